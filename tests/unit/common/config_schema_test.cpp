// A library declares its own table to common's loader: the keys, how each is read, the
// defaults; nothing in common or settings knows about it. This is what a new feature's config
// takes, so it is tested apart from the tables portcullis.toml has today.
#include <gtest/gtest.h>

#include "common/common.h"
#include "common/config.h"

namespace portcullis {
namespace {

struct WidgetConfig {
  std::string colour = "red";
  int size = 3;
  std::filesystem::path socket;
  std::vector<std::chrono::seconds> delays;
};

struct GadgetRule {
  std::size_t line = 0;
  std::string name;
};

constexpr ConfigKey<WidgetConfig> kWidgetKeys[] = {
    {"colour", [](const ConfigValue& v, WidgetConfig& w) { w.colour = v.string(); }},
    {"size",
     [](const ConfigValue& v, WidgetConfig& w) { w.size = static_cast<int>(v.integer(1, 9)); }},
    {"socket", [](const ConfigValue& v, WidgetConfig& w) { w.socket = v.path(); }},
    {"delays",
     [](const ConfigValue& v, WidgetConfig& w) { w.delays = v.parsed_list(parse_duration); }},
};

constexpr ConfigKey<GadgetRule> kGadgetKeys[] = {
    {"name", [](const ConfigValue& v, GadgetRule& g) { g.name = v.string(); }, true},
};

struct Loaded {
  WidgetConfig widget;
  std::vector<GadgetRule> gadgets;
};

Loaded load(std::string_view text) {
  Loaded loaded;
  ConfigSchema schema("/etc/example/example.toml");
  schema.table("widget", loaded.widget, kWidgetKeys);
  schema.table_array("gadget", loaded.gadgets, kGadgetKeys);
  schema.load_text(text);
  return loaded;
}

std::string error_for(std::string_view text) {
  try {
    load(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "loaded";
}

TEST(ConfigSchema, ReadsADeclaredTableAndKeepsDefaults) {
  const Loaded loaded = load(
      "[widget]\nsize = 7\nsocket = \"run/w.sock\"\ndelays = [\"1m\", \"2s\"]\n"
      "[[gadget]]\nname = \"a\"\n\n[[gadget]]\nname = \"b\"\n");
  EXPECT_EQ(loaded.widget.colour, "red");
  EXPECT_EQ(loaded.widget.size, 7);
  EXPECT_EQ(loaded.widget.socket, "/etc/example/run/w.sock");
  EXPECT_EQ(loaded.widget.delays,
            (std::vector<std::chrono::seconds>{std::chrono::minutes(1), std::chrono::seconds(2)}));
  ASSERT_EQ(loaded.gadgets.size(), 2u);
  EXPECT_EQ(loaded.gadgets[1].name, "b");
  EXPECT_EQ(loaded.gadgets[1].line, 8u);
}

TEST(ConfigSchema, ReportsTheFirstProblemInTheFileWithItsLine) {
  EXPECT_EQ(error_for("[widget]\nsize = 12\n[other]\n"),
            "/etc/example/example.toml:2: 'size' in [widget] must be from 1 to 9");
  EXPECT_EQ(error_for("[widget]\nshape = \"round\"\n"),
            "/etc/example/example.toml:2: unknown key 'shape' in [widget]");
  EXPECT_EQ(error_for("[server]\nlisten = \"x\"\n"),
            "/etc/example/example.toml:1: unknown table [server]");
  // Each element of a list is parsed on its own; the parser's reason follows the key.
  EXPECT_EQ(
      error_for("[widget]\ndelays = [\"1m\", \"soon\"]\n")
          .rfind("/etc/example/example.toml:2: 'delays' in [widget]: \"soon\" is not a duration",
                 0),
      0u);
  EXPECT_EQ(error_for("[[gadget]]\nname = \"x\"\ncolour = 1\n"),
            "/etc/example/example.toml:3: unknown key 'colour' in [[gadget]]");
  EXPECT_EQ(error_for("[[gadget]]\n"),
            "/etc/example/example.toml:1: missing required key 'name' in [[gadget]]");
}

}  // namespace
}  // namespace portcullis
