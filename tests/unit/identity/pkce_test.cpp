// The PKCE challenge the web console sends with its authorization request (RFC 7636 4.2, S256).
#include <gtest/gtest.h>

#include "identity/oidc.h"

namespace portcullis::identity {
namespace {

TEST(Pkce, ChallengeIsTheRfc7636AppendixBVector) {
  EXPECT_EQ(pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(Pkce, ChallengeIsUnpaddedBase64UrlOfTheDigest) {
  const std::string challenge = pkce_challenge("another verifier of forty-three characters..");
  EXPECT_EQ(challenge.size(), 43u);
  EXPECT_EQ(challenge.find_first_of("+/="), std::string::npos) << challenge;
  EXPECT_NE(challenge, pkce_challenge("another verifier of forty-three characters.."
                                      "x"));
}

}  // namespace
}  // namespace portcullis::identity
