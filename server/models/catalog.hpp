#pragma once

/// The one list of execution models: for each, its `mode`, its card (what --help,
/// --list-models, the start-up line and /stats say about it) and the factory that makes
/// it. Parsing --mode, its error, --help, make_model() and all_modes() read this list;
/// the test harnesses and the lab read it from `cvp-server --list-models`.

#include "server/config.hpp"
#include "server/stats.hpp"

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cvp {

class execution_model;
struct model_services;

/// What a model is, in words and in the kinds of its workers.
struct model_card
{
    /// The name --mode takes.
    std::string_view name;
    /// One sentence on what the model is.
    std::string_view description;
    /// The flags that size it.
    std::vector<std::string_view> sizing_flags;
    /// The kinds of worker /stats lists for it.
    std::vector<worker_kind> worker_kinds;
    /// The kind that serves connections (and runs their timers).
    worker_kind serving_kind;
    /// The kind that runs CPU and blocking work.
    worker_kind work_kind;
    /// Whether `--pin` applies and what it is when not given: absent where the model pins
    /// nothing.
    std::optional<bool> pin_by_default = std::nullopt;
};

/// Makes a model from what the server lends it and its own card.
using model_factory = std::unique_ptr<execution_model> (*)(model_services const& services, model_card const& card);

/// One row of the catalog.
struct catalog_entry
{
    cvp::mode mode;
    model_card card;
    model_factory make;
};

/// Every model, in the order --help, --list-models, the lab and the tests list them.
std::span<catalog_entry const> model_catalog();

/// The modes, in the catalog's order.
std::vector<mode> all_modes();

/// The row of `m`.
catalog_entry const& catalog_entry_of(mode m);
model_card const& model_card_of(mode m);

/// The mode named `name`, if any model has that name.
std::optional<mode> find_mode(std::string_view name);

/// "single, reactors, offload, pool or threads": the names, for --help and the parse error.
std::string model_names_text();

/// The catalog as JSON: {"models": [{name, description, sizing_flags, worker_kinds,
/// serving_kind, work_kind, pin}, ...]} (pin: "on", "off" or null), as `cvp-server --list-models` prints it.
std::string list_models_json();

} // namespace cvp
