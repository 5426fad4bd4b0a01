/// The model catalog: one row per mode, and --list-models prints exactly the rows.

#include "server/config.hpp"
#include "server/models/catalog.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <variant>

namespace {

using nlohmann::json;

TEST(Catalog, EveryModeHasItsOwnRowAndName)
{
    auto const list = cvp::model_catalog();
    ASSERT_FALSE(list.empty());
    std::set<cvp::mode> modes;
    std::set<std::string_view> names;
    for (auto const& e : list) {
        modes.insert(e.mode);
        names.insert(e.card.name);
        // Each row is the one its mode finds, and its name parses back to its mode.
        EXPECT_EQ(&cvp::catalog_entry_of(e.mode), &e) << e.card.name;
        EXPECT_EQ(cvp::find_mode(e.card.name), e.mode) << e.card.name;
        EXPECT_EQ(cvp::to_string(e.mode), e.card.name);
        EXPECT_NE(e.make, nullptr) << e.card.name;
        EXPECT_FALSE(e.card.description.empty()) << e.card.name;
    }
    EXPECT_EQ(modes.size(), list.size());
    EXPECT_EQ(names.size(), list.size());
    EXPECT_EQ(cvp::find_mode("no-such-model"), std::nullopt);
}

TEST(Catalog, ServingAndWorkKindsAreAmongTheWorkerKinds)
{
    for (auto const& e : cvp::model_catalog()) {
        auto const& kinds = e.card.worker_kinds;
        EXPECT_NE(std::find(kinds.begin(), kinds.end(), e.card.serving_kind), kinds.end()) << e.card.name;
        EXPECT_NE(std::find(kinds.begin(), kinds.end(), e.card.work_kind), kinds.end()) << e.card.name;
    }
}

TEST(Catalog, ListModelsJsonIsTheTableInItsOrder)
{
    auto const doc = json::parse(cvp::list_models_json());
    auto const list = cvp::model_catalog();
    ASSERT_EQ(doc.at("models").size(), list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
        auto const& m = doc["models"][i];
        auto const& card = list[i].card;
        EXPECT_EQ(m.at("name"), card.name);
        EXPECT_EQ(m.at("description"), card.description);
        ASSERT_EQ(m.at("sizing_flags").size(), card.sizing_flags.size()) << card.name;
        for (std::size_t f = 0; f < card.sizing_flags.size(); ++f)
            EXPECT_EQ(m["sizing_flags"][f], card.sizing_flags[f]) << card.name;
        ASSERT_EQ(m.at("worker_kinds").size(), card.worker_kinds.size()) << card.name;
        for (std::size_t k = 0; k < card.worker_kinds.size(); ++k)
            EXPECT_EQ(m["worker_kinds"][k], cvp::to_string(card.worker_kinds[k])) << card.name;
        EXPECT_EQ(m.at("serving_kind"), cvp::to_string(card.serving_kind)) << card.name;
        EXPECT_EQ(m.at("work_kind"), cvp::to_string(card.work_kind)) << card.name;
        if (card.pin_by_default)
            EXPECT_EQ(m.at("pin"), *card.pin_by_default ? "on" : "off") << card.name;
        else
            EXPECT_TRUE(m.at("pin").is_null()) << card.name;
    }
}

TEST(Catalog, SizingFlagsAreFlagsTheServerTakes)
{
    // Each flag a card names is documented in --help (and so parsed).
    auto const help = cvp::help_text();
    for (auto const& e : cvp::model_catalog())
        for (auto flag : e.card.sizing_flags)
            EXPECT_NE(help.find(std::string{flag} + " "), std::string::npos) << e.card.name << ' ' << flag;
}

TEST(Catalog, ParseErrorAndHelpNameEveryModel)
{
    auto const parsed = cvp::parse_config({"--mode", "bogus"}, [](std::string const&) { return std::nullopt; });
    auto const* err = std::get_if<cvp::config_error>(&parsed);
    ASSERT_NE(err, nullptr);
    auto const names = cvp::model_names_text();
    EXPECT_NE(err->message.find("expects " + names), std::string::npos) << err->message;
    EXPECT_NE(cvp::help_text().find("execution model: " + names), std::string::npos);
    for (auto const& e : cvp::model_catalog())
        EXPECT_NE(names.find(e.card.name), std::string::npos) << e.card.name;
}

TEST(Catalog, ListModelsFlagIsParsed)
{
    auto const parsed = cvp::parse_config({"--list-models"}, [](std::string const&) { return std::nullopt; });
    EXPECT_TRUE(std::holds_alternative<cvp::models_requested>(parsed));
}

} // namespace
