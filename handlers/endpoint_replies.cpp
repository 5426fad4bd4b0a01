#include "handlers/endpoint_replies.hpp"

namespace cvp {

namespace http = boost::beast::http;

nlohmann::json work_json(std::string_view mode, work_record const& w)
{
    return nlohmann::json{{"mode", mode},           {"worker", w.worker}, {"queue_ns", w.start_ns - w.submit_ns},
                          {"start_ns", w.start_ns}, {"end_ns", w.end_ns}, {"cpu_ns", w.cpu_ns}};
}

reply bad_parameter(param_error const& e)
{
    return error_reply(http::status::bad_request, e.message, e.parameter);
}

reply overloaded()
{
    auto r = error_reply(http::status::service_unavailable, "overloaded: the server has no room for more work; retry later");
    r.headers.emplace_back(http::field::retry_after, "1");
    r.overloaded = true;
    return r;
}

std::optional<param_error> no_parameters(target const& t)
{
    return param_reader{t.params}.finish();
}

} // namespace cvp
