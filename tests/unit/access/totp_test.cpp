#include "access/totp.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace portcullis::access::totp {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

// RFC 6238 appendix B and RFC 4226 appendix D: the ASCII bytes of "12345678901234567890".
const std::vector<std::uint8_t> kRfcSecret = [] {
  const std::string_view text = "12345678901234567890";
  return std::vector<std::uint8_t>(text.begin(), text.end());
}();

Clock::time_point at_unix(std::int64_t seconds) {
  return Clock::time_point{std::chrono::seconds(seconds)};
}

std::vector<std::uint8_t> bytes_of(std::string_view text) {
  return std::vector<std::uint8_t>(text.begin(), text.end());
}

TEST(TotpRfc6238, Sha1VectorsLastSixDigits) {
  const std::pair<std::int64_t, std::string_view> vectors[] = {
      {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
      {1234567890, "89005924"}, {2000000000, "69279037"},
  };
  for (const auto& [unix_time, eight_digits] : vectors) {
    EXPECT_EQ(code_at(kRfcSecret, step_at(at_unix(unix_time))), eight_digits.substr(2))
        << unix_time;
  }
  // 20000000000 (year 2603) is past what system_clock's nanoseconds hold (year 2262): give the
  // RFC's step directly.
  EXPECT_EQ(code_at(kRfcSecret, 20000000000 / 30), "353130");
  EXPECT_EQ(20000000000 / 30, 0x27BC86AA);
}

TEST(TotpRfc6238, StepsAreThirtySecondsFromTheEpoch) {
  EXPECT_EQ(step_at(at_unix(0)), 0);
  EXPECT_EQ(step_at(at_unix(29)), 0);
  EXPECT_EQ(step_at(at_unix(30)), 1);
  EXPECT_EQ(step_at(at_unix(59) + 999ms), 1);
  EXPECT_EQ(step_at(at_unix(1111111109)), 0x023523EC);  // the RFC's table lists T in hex
  EXPECT_EQ(step_at(at_unix(2000000000)), 0x03F940AA);
  EXPECT_EQ(step_at(at_unix(-1)), -1);  // floor, not truncation, before 1970
  EXPECT_EQ(step_at(at_unix(-30)), -1);
  EXPECT_EQ(step_at(at_unix(-31)), -2);
}

TEST(TotpRfc4226, HotpValues) {
  const char* const expected[] = {"755224", "287082", "359152", "969429", "338314",
                                  "254676", "287922", "162583", "399871", "520489"};
  for (std::int64_t counter = 0; counter < 10; ++counter) {
    EXPECT_EQ(code_at(kRfcSecret, counter), expected[counter]) << counter;
  }
}

TEST(TotpRfc4226, EmptySecretIsAKeyLikeAnyOther) {
  EXPECT_EQ(code_at({}, 0), "328482");  // Python: hmac.new(b"", bytes(8), hashlib.sha1)
}

TEST(TotpSecret, TwentyRandomBytes) {
  // As strings: GCC 12 at -O3 reports a false -Wstringop-overread inside the vector comparison.
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    const std::vector<std::uint8_t> secret = generate_secret();
    EXPECT_EQ(secret.size(), 20u);
    seen.emplace(secret.begin(), secret.end());
  }
  EXPECT_EQ(seen.size(), 20u);
  EXPECT_EQ(base32_encode(generate_secret()).size(), 32u);
}

TEST(Base32, Rfc4648VectorsWithoutPadding) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},
      {"f", "MY"},
      {"fo", "MZXQ"},
      {"foo", "MZXW6"},
      {"foob", "MZXW6YQ"},
      {"fooba", "MZXW6YTB"},
      {"foobar", "MZXW6YTBOI"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base32_encode(bytes_of(plain)), encoded) << plain;
    EXPECT_EQ(base32_decode(encoded), bytes_of(plain)) << encoded;
  }
  EXPECT_EQ(base32_encode(kRfcSecret), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

TEST(Base32, DecodesPaddingLowerCaseAndSpaces) {
  EXPECT_EQ(base32_decode("MY======"), bytes_of("f"));
  EXPECT_EQ(base32_decode("MZXW6YTBOI======"), bytes_of("foobar"));
  EXPECT_EQ(base32_decode("mzxw6ytboi"), bytes_of("foobar"));
  EXPECT_EQ(base32_decode("gezd gnbv gy3t qojq gezd gnbv gy3t qojq"), kRfcSecret);
  EXPECT_EQ(base32_decode("   "), std::vector<std::uint8_t>{});
}

TEST(Base32, RoundTripsEveryLengthAndByte) {
  std::vector<std::uint8_t> bytes;
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(base32_decode(base32_encode(bytes)), bytes) << bytes.size();
    bytes.push_back(static_cast<std::uint8_t>(i * 37 + 11));
  }
  const std::vector<std::uint8_t> secret = generate_secret();
  EXPECT_EQ(base32_decode(base32_encode(secret)), secret);
}

TEST(Base32, RefusesBadInput) {
  for (std::string_view text : {"MZXW1", "MZXW8", "MZXW0", "MZ-XW", "MZ\tXW", "MZXW6!", "M", "MZX",
                                "MZXW6Y", "MZ\xc3\xa9"}) {
    EXPECT_EQ(base32_decode(text), std::nullopt) << text;
  }
  // Unused trailing bits must be zero: "MZ" is "f"; "M3" differs only in those bits.
  EXPECT_EQ(base32_decode("M3"), std::nullopt);
  EXPECT_EQ(base32_decode("MZXR"), std::nullopt);
}

class TotpAccept : public ::testing::Test {
 protected:
  const Clock::time_point now_ = at_unix(1111111111);  // step 37037037, 1 s into it
  const std::int64_t step_ = step_at(now_);
  std::string code(std::int64_t offset) const { return code_at(kRfcSecret, step_ + offset); }
};

TEST_F(TotpAccept, CurrentCodeAndOneStepOfSkewEitherWay) {
  EXPECT_EQ(accept(kRfcSecret, code(0), now_, std::nullopt), step_);
  EXPECT_EQ(accept(kRfcSecret, code(-1), now_, std::nullopt), step_ - 1);
  EXPECT_EQ(accept(kRfcSecret, code(+1), now_, std::nullopt), step_ + 1);
  EXPECT_EQ(accept(kRfcSecret, "050471", now_, std::nullopt), step_);  // RFC 6238 vector
}

TEST_F(TotpAccept, TwoStepsOfSkewRefused) {
  EXPECT_EQ(accept(kRfcSecret, code(-2), now_, std::nullopt), std::nullopt);
  EXPECT_EQ(accept(kRfcSecret, code(+2), now_, std::nullopt), std::nullopt);
}

TEST_F(TotpAccept, ACodeIsAcceptedOnlyOnce) {
  const std::optional<std::int64_t> used = accept(kRfcSecret, code(0), now_, std::nullopt);
  ASSERT_EQ(used, step_);
  EXPECT_EQ(accept(kRfcSecret, code(0), now_, used), std::nullopt);
  EXPECT_EQ(accept(kRfcSecret, code(0), now_ + 20s, used), std::nullopt);  // same window later
  EXPECT_EQ(accept(kRfcSecret, code(0), now_ + 30s, used), std::nullopt);  // now one step old
  EXPECT_EQ(accept(kRfcSecret, code(1), now_ + 30s, used), step_ + 1);
}

TEST_F(TotpAccept, OlderCodeAfterNewerRefused) {
  EXPECT_EQ(accept(kRfcSecret, code(-1), now_, step_), std::nullopt);
  EXPECT_EQ(accept(kRfcSecret, code(0), now_, step_ + 1), std::nullopt);
  EXPECT_EQ(accept(kRfcSecret, code(+1), now_, step_), step_ + 1);
  EXPECT_EQ(accept(kRfcSecret, code(0), now_, step_ - 1), step_);
}

TEST_F(TotpAccept, SurroundingWhitespaceTrimmed) {
  EXPECT_EQ(accept(kRfcSecret, "  " + code(0) + " ", now_, std::nullopt), step_);
  EXPECT_EQ(accept(kRfcSecret, code(0) + "\n", now_, std::nullopt), step_);
}

TEST_F(TotpAccept, MalformedCodesRefused) {
  const std::string good = code(0);
  for (const std::string& text :
       {std::string(), std::string("      "), good.substr(1), good + "0", "0" + good,
        good.substr(0, 3) + " " + good.substr(3), good.substr(0, 5) + "a", "+" + good.substr(1),
        "-" + good.substr(1), good.substr(0, 5) + "\xd9\xa3" /* Arabic-Indic digit */,
        good + std::string(1, '\0'), std::string("12345\0", 6)}) {
    EXPECT_EQ(accept(kRfcSecret, text, now_, std::nullopt), std::nullopt) << text;
  }
}

TEST_F(TotpAccept, OtherSecretRefused) {
  EXPECT_EQ(accept(generate_secret(), "050471", now_, std::nullopt), std::nullopt);
}

TEST(TotpUri, PercentEncodesIssuerAndUser) {
  EXPECT_EQ(otpauth_uri("Portcullis Prod", "alice@example.com", kRfcSecret),
            "otpauth://totp/Portcullis%20Prod:alice%40example.com"
            "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Portcullis%20Prod"
            "&algorithm=SHA1&digits=6&period=30");
  EXPECT_EQ(otpauth_uri("A:B&c=d?/#+", "j\xc3\xa9r\xc3\xb4me_o.k~-", bytes_of("f")),
            "otpauth://totp/A%3AB%26c%3Dd%3F%2F%23%2B:j%C3%A9r%C3%B4me_o.k~-"
            "?secret=MY&issuer=A%3AB%26c%3Dd%3F%2F%23%2B&algorithm=SHA1&digits=6&period=30");
}

}  // namespace
}  // namespace portcullis::access::totp
