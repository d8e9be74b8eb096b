// hugeshim config [--format text|json]: the options table (shim/src/
// options.cpp, linked in) with the values the shim would use in this
// environment.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "hugeshim/options.h"

namespace hugeshim::collector {

int cmd_config(int argc, char** argv) {
  CLI::App app("Show the HUGESHIM_* options and their effective values", "hugeshim config");
  std::string format = "text";
  app.add_option("--format", format, "text or json")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  options_load();  // bad values print one line each, as in the shim
  size_t count;
  const OptionInfo* table = options_table(&count);
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < count; ++i) {
    char value[256];
    option_effective_value(i, value, sizeof value);
    rows.push_back({{"name", table[i].name}, {"value", value}, {"default", table[i].default_value},
                    {"accepted", table[i].accepted}, {"help", table[i].help}});
  }
  if (format == "json") {
    std::cout << rows.dump(2) << "\n";
    return 0;
  }
  for (const auto& r : rows) {
    std::string name = r["name"], value = r["value"], def = r["default"], accepted = r["accepted"], help = r["help"];
    std::printf("%-26s %-22s %s\n%-26s default %s; accepts %s\n\n", name.c_str(), value.c_str(), help.c_str(), "",
                def.c_str(), accepted.c_str());
  }
  return 0;
}

}  // namespace hugeshim::collector
