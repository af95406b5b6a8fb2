#include "access/network.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace portcullis {
namespace {

TEST(NetworkRange, MatchesAddressesInsideItsPrefixOnly) {
  const NetworkRange ten = parse_network_range("10.0.0.0/8");
  EXPECT_TRUE(in_range(ten, "10.1.2.3"));
  EXPECT_TRUE(in_range(ten, "::ffff:10.200.0.1"));  // IPv4-mapped, as a dual-stack socket sees it
  EXPECT_FALSE(in_range(ten, "11.0.0.1"));
  EXPECT_FALSE(in_range(ten, "2001:db8::1"));
  EXPECT_FALSE(in_range(ten, "10.0.0.1:22"));  // not an address: in no range
  EXPECT_FALSE(in_range(ten, ""));
  const NetworkRange odd = parse_network_range("192.168.4.0/22");
  EXPECT_TRUE(in_range(odd, "192.168.7.255"));
  EXPECT_FALSE(in_range(odd, "192.168.8.0"));
  const NetworkRange six = parse_network_range("2001:db8::/32");
  EXPECT_TRUE(in_range(six, "2001:db8:ffff::1"));
  EXPECT_TRUE(in_range(six, "[2001:db8::5]"));
  EXPECT_FALSE(in_range(six, "2001:db9::1"));
  EXPECT_TRUE(in_range(parse_network_range("127.0.0.1"), "127.0.0.1"));
  EXPECT_FALSE(in_range(parse_network_range("127.0.0.1"), "127.0.0.2"));
  EXPECT_TRUE(in_range(parse_network_range("0.0.0.0/0"), "8.8.8.8"));
}

TEST(NetworkRange, RefusesWhatIsNotANetwork) {
  for (const char* bad : {"10.0.0.0/33", "2001:db8::/129", "10.0.0.0/-1", "10.0.0.0/8x",
                          "example.com/8", "10.1.2.3/8", "", "10.0.0/8"}) {
    EXPECT_THROW(parse_network_range(bad), std::invalid_argument) << bad;
  }
}

}  // namespace
}  // namespace portcullis
