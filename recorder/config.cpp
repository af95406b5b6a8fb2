#include "recorder/config.h"

#include <stdexcept>
#include <string>
#include <string_view>

namespace portcullis {
namespace {

OnRecordFailure parse_on_record_failure(std::string_view text) {
  if (text == "terminate") return OnRecordFailure::terminate;
  if (text == "continue") return OnRecordFailure::continue_unrecorded;
  throw std::invalid_argument("\"" + std::string(text) +
                              "\" is not a choice (expected \"terminate\" or \"continue\")");
}

SpoolSync parse_spool_sync(std::string_view text) {
  if (text == "file") return SpoolSync::file;
  if (text == "filesystem") return SpoolSync::filesystem;
  throw std::invalid_argument("\"" + std::string(text) +
                              "\" is not a choice (expected \"file\" or \"filesystem\")");
}

constexpr ConfigKey<RecordingConfig> kRecordingKeys[] = {
    {"spool_dir", [](const ConfigValue& v, RecordingConfig& r) { r.spool_dir = v.path(); }},
    {"signing_key", [](const ConfigValue& v, RecordingConfig& r) { r.signing_key = v.path(); }},
    {"record_input",
     [](const ConfigValue& v, RecordingConfig& r) { r.record_input = v.boolean(); }},
    {"on_record_failure",
     [](const ConfigValue& v, RecordingConfig& r) {
       r.on_record_failure = v.parsed(parse_on_record_failure);
     }},
    {"sync", [](const ConfigValue& v, RecordingConfig& r) { r.sync = v.parsed(parse_spool_sync); }},
    {"live_shipping",
     [](const ConfigValue& v, RecordingConfig& r) { r.live_shipping = v.boolean(); }},
    {"compact", [](const ConfigValue& v, RecordingConfig& r) { r.compact = v.boolean(); }},
    {"compact_level",
     [](const ConfigValue& v, RecordingConfig& r) {
       r.compact_level = static_cast<int>(v.integer(1, 22));
     }},
};

}  // namespace

void declare_recording_config(ConfigSchema& schema, RecordingConfig& recording) {
  recording.spool_dir = schema.state_dir() / "spool";
  recording.signing_key = schema.state_dir() / "signing.key";
  schema.table("recording", recording, kRecordingKeys);
}

}  // namespace portcullis
