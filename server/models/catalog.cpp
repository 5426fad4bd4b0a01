#include "server/models/catalog.hpp"

#include "server/models/model.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace cvp {

/// Each defined in its model's own file.
std::unique_ptr<execution_model> make_single(model_services const& services, model_card const& card);
std::unique_ptr<execution_model> make_reactors(model_services const& services, model_card const& card);
std::unique_ptr<execution_model> make_offload(model_services const& services, model_card const& card);
std::unique_ptr<execution_model> make_pool(model_services const& services, model_card const& card);
std::unique_ptr<execution_model> make_threads(model_services const& services, model_card const& card);

namespace {

using enum worker_kind;

/// The list. A new model is one row here, its file beside this one, and its enumerator.
std::vector<catalog_entry> const& entries()
{
    static std::vector<catalog_entry> const list{
        {mode::single, {"single", "one event loop on one thread: concurrency without parallelism", {}, {loop}, loop, loop}, &make_single},
        {mode::reactors,
         {"reactors",
          "one event loop per CPU, each on its own pinned thread, connections sharded over them",
          {"--threads"},
          {loop},
          loop,
          loop,
          true},
         &make_reactors},
        {mode::offload,
         {"offload",
          "one event loop for I/O, CPU and blocking work handed to a bounded pool of threads",
          {"--pool-threads", "--pool-queue"},
          {loop, pool_thread},
          loop,
          pool_thread},
         &make_offload},
        {mode::pool,
         {"pool",
          "one event loop run by a pool of threads, each connection on a strand, work inline on any thread",
          {"--threads"},
          {pool_thread},
          pool_thread,
          pool_thread,
          false},
         &make_pool},
        {mode::threads,
         {"threads",
          "one thread per connection, blocking in its socket's reads and writes; one loop accepts",
          {"--max-connections", "--thread-stack"},
          {loop, connection_thread},
          connection_thread,
          connection_thread},
         &make_threads},
    };
    return list;
}

} // namespace

std::span<catalog_entry const> model_catalog()
{
    return entries();
}

std::vector<mode> all_modes()
{
    std::vector<mode> modes;
    for (auto const& e : model_catalog())
        modes.push_back(e.mode);
    return modes;
}

catalog_entry const& catalog_entry_of(mode m)
{
    auto const list = model_catalog();
    auto it = std::find_if(list.begin(), list.end(), [m](catalog_entry const& e) { return e.mode == m; });
    // Every enumerator has its row: the catalog's unit test walks them all.
    return it != list.end() ? *it : list.front();
}

model_card const& model_card_of(mode m)
{
    return catalog_entry_of(m).card;
}

std::optional<mode> find_mode(std::string_view name)
{
    for (auto const& e : model_catalog())
        if (e.card.name == name)
            return e.mode;
    return std::nullopt;
}

std::string model_names_text()
{
    // "a, b, c or d".
    auto const list = model_catalog();
    std::string text;
    for (std::size_t i = 0; i < list.size(); ++i) {
        if (i > 0)
            text += i + 1 == list.size() ? " or " : ", ";
        text += list[i].card.name;
    }
    return text;
}

std::string list_models_json()
{
    // One object per row, in the catalog's order, its fields in the order written.
    using json = nlohmann::ordered_json;
    auto models = json::array();
    for (auto const& e : model_catalog()) {
        auto const& c = e.card;
        auto kinds = json::array();
        for (auto k : c.worker_kinds)
            kinds.push_back(to_string(k));
        auto flags = json::array();
        for (auto f : c.sizing_flags)
            flags.push_back(f);
        models.push_back({{"name", c.name},
                          {"description", c.description},
                          {"sizing_flags", flags},
                          {"worker_kinds", kinds},
                          {"serving_kind", to_string(c.serving_kind)},
                          {"work_kind", to_string(c.work_kind)},
                          {"pin", c.pin_by_default ? json(*c.pin_by_default ? "on" : "off") : json(nullptr)}});
    }
    return json{{"models", models}}.dump();
}

std::unique_ptr<execution_model> make_model(model_services services)
{
    auto const& entry = catalog_entry_of(services.cfg.mode);
    return entry.make(services, entry.card);
}

} // namespace cvp
