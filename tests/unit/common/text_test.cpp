// Text from one person shown to another: UTF-8 checks and neutralising terminal controls.
#include <gtest/gtest.h>

#include "common/common.h"

namespace portcullis {
namespace {

using namespace std::string_literals;

TEST(IsValidUtf8, AcceptsUnicodeAndRefusesMalformedSequences) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("d\xc3\xa9j\xc3\xa0 \xe2\x82\xac \xf0\x9f\x94\x92"));  // déjà € 🔒
  EXPECT_TRUE(is_valid_utf8("\xf4\x8f\xbf\xbf"));                                  // U+10FFFF
  for (const std::string& bad :
       {"\xff"s, "\xc0\xaf"s, "\xe0\x80\xaf"s, "\xed\xa0\x80"s, "\xf4\x90\x80\x80"s, "\xc3"s,
        "a\xe2\x82"s, "\x80"s, "\xf8\x88\x80\x80\x80"s}) {
    EXPECT_FALSE(is_valid_utf8(bad)) << inert_line(bad);
  }
}

TEST(EscapeInvalidUtf8, KeepsValidTextAndEscapesTheRest) {
  EXPECT_EQ(escape_invalid_utf8("d\xc3\xa9j\xc3\xa0"), "d\xc3\xa9j\xc3\xa0");
  EXPECT_EQ(escape_invalid_utf8("host\xff\xfe.example"), "host\\xff\\xfe.example");
  EXPECT_EQ(escape_invalid_utf8("\xc3"), "\\xc3");
  // Controls are valid UTF-8: JSON escapes them itself, so they stay.
  EXPECT_EQ(escape_invalid_utf8("\x1b[2J"), "\x1b[2J");
}

TEST(InertText, ShowsControlsVisibly) {
  EXPECT_EQ(inert_text("INC-1 disk full\n\tsee ticket"), "INC-1 disk full\n\tsee ticket");
  EXPECT_EQ(inert_text("\x1b[2J\x1b]52;c;ZXZpbA==\x07"), "\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07");
  EXPECT_EQ(inert_text("a\rb\x7f\x08"), "a\\rb\\x7f\\x08");
  EXPECT_EQ(inert_text("csi \xc2\x9b"
                       "31m osc \xc2\x9d"),
            "csi \\u009b31m osc \\u009d");
  EXPECT_EQ(inert_text("nbsp \xc2\xa0 ok"), "nbsp \xc2\xa0 ok");  // U+00A0 is printable
  EXPECT_EQ(inert_text("bad \xff byte"), "bad \\xff byte");
  EXPECT_EQ(inert_text(std::string("nul\0here", 8)), "nul\\x00here");
}

TEST(InertLine, AlsoEscapesLayout) {
  EXPECT_EQ(inert_line("two\nlines\tand\rreturn"), "two\\nlines\\tand\\rreturn");
  EXPECT_EQ(inert_line("pay-prod:root"), "pay-prod:root");
}

}  // namespace
}  // namespace portcullis
