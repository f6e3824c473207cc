// classify(): which names a server answers for, at every tier of the tree.
#include "jurisdiction.hpp"

#include <gtest/gtest.h>

using homesip::ServerIdentity;
using namespace homesip::redirect;

namespace {

const ServerIdentity kProvince{"C1", ""};
const ServerIdentity kCommunity{"D1", "C1"};
const ServerIdentity kFamily{"H1", "C1.D1"};

Relation rel(const ServerIdentity& me, const char* aor) { return classify(me, aor).relation; }
std::string child(const ServerIdentity& me, const char* aor) { return classify(me, aor).child_aor; }

}  // namespace

TEST(Labels, ValidAndInvalid) {
  EXPECT_TRUE(valid_label("H1"));
  EXPECT_TRUE(valid_label("a_b-9"));
  EXPECT_FALSE(valid_label(""));
  EXPECT_FALSE(valid_label("a.b"));
  EXPECT_FALSE(valid_label("a b"));
  EXPECT_FALSE(valid_label("h@1"));
  EXPECT_FALSE(valid_label("h\xc3\xa9"));
  EXPECT_TRUE(valid_domain("C1.D1.H1"));
  EXPECT_TRUE(valid_domain("C1"));
  EXPECT_FALSE(valid_domain(""));
  EXPECT_FALSE(valid_domain("C1..D1"));
  EXPECT_FALSE(valid_domain(".C1"));
  EXPECT_FALSE(valid_domain("C1."));
}

TEST(Community, DirectChildren) {
  EXPECT_EQ(rel(kCommunity, "H1@C1.D1"), Relation::kDirectChild);  // a family server
  EXPECT_EQ(rel(kCommunity, "U9@C1.D1"), Relation::kDirectChild);  // a user kept by D1 itself
  EXPECT_TRUE(child(kCommunity, "H1@C1.D1").empty());
}

TEST(Community, SubtreeNamesTheChildOnThePath) {
  EXPECT_EQ(rel(kCommunity, "U1@C1.D1.H1"), Relation::kInSubtree);
  EXPECT_EQ(child(kCommunity, "U1@C1.D1.H1"), "H1@C1.D1");
  EXPECT_EQ(child(kCommunity, "U1@C1.D1.H2"), "H2@C1.D1");
}

TEST(Community, OtherBranchesAndAncestorsAreNotMine) {
  EXPECT_EQ(rel(kCommunity, "U1@C1.D2.H1"), Relation::kNotMine);   // sibling community
  EXPECT_EQ(rel(kCommunity, "D2@C1"), Relation::kNotMine);         // sibling server
  EXPECT_EQ(rel(kCommunity, "U1@C2.D1.H1"), Relation::kNotMine);   // other province
  EXPECT_EQ(rel(kCommunity, "C1@example"), Relation::kNotMine);    // the parent
  EXPECT_EQ(rel(kCommunity, "U1@C1.D10.H1"), Relation::kNotMine);  // a prefix is not a label
  EXPECT_EQ(rel(kCommunity, "U1@C1"), Relation::kNotMine);
  EXPECT_EQ(rel(kCommunity, "U1@127.0.0.1"), Relation::kNotMine);  // an IP is not a tree name
}

TEST(Community, ItsOwnNameIsSelf) {
  EXPECT_EQ(rel(kCommunity, "D1@C1"), Relation::kSelf);
  EXPECT_EQ(rel(kCommunity, "d1@c1"), Relation::kSelf);
}

TEST(Family, UsersAreDirectChildren) {
  EXPECT_EQ(rel(kFamily, "U1@C1.D1.H1"), Relation::kDirectChild);
  EXPECT_EQ(rel(kFamily, "H1@C1.D1"), Relation::kSelf);
  EXPECT_EQ(rel(kFamily, "H2@C1.D1"), Relation::kNotMine);
  EXPECT_EQ(rel(kFamily, "U1@C1.D1.H2"), Relation::kNotMine);
}

TEST(Province, AtTheTopTheChildDomainIsTheName) {
  EXPECT_EQ(rel(kProvince, "D1@C1"), Relation::kDirectChild);
  EXPECT_EQ(rel(kProvince, "H1@C1.D1"), Relation::kInSubtree);
  EXPECT_EQ(child(kProvince, "H1@C1.D1"), "D1@C1");
  EXPECT_EQ(child(kProvince, "U1@C1.D1.H1"), "D1@C1");
  EXPECT_EQ(rel(kProvince, "D1@C2"), Relation::kNotMine);
}

TEST(Province, WithADnsDomain) {
  const ServerIdentity me{"C1", "example.org"};  // the SDK's child domain: "example.org.C1"
  EXPECT_EQ(rel(me, "C1@example.org"), Relation::kSelf);
  EXPECT_EQ(rel(me, "D1@example.org.C1"), Relation::kDirectChild);
  EXPECT_EQ(child(me, "U1@example.org.C1.D1.H1"), "D1@example.org.C1");
}

TEST(DeeperTrees, AnyDepthWorksTheSame) {
  const ServerIdentity city{"M3", "C1.D1.H1"};  // a fourth tier
  EXPECT_EQ(rel(city, "X@C1.D1.H1.M3"), Relation::kDirectChild);
  EXPECT_EQ(child(city, "U@C1.D1.H1.M3.A.B.C"), "A@C1.D1.H1.M3");
  EXPECT_EQ(child(kProvince, "U@C1.D1.H1.M3.A.B.C"), "D1@C1");
  EXPECT_EQ(child(kCommunity, "U@C1.D1.H1.M3.A.B.C"), "H1@C1.D1");
  EXPECT_EQ(rel(city, "U@C1.D1.H1"), Relation::kNotMine);
}

TEST(Case, ComparisonIgnoresCaseAndKeepsSpelling) {
  EXPECT_EQ(rel(kCommunity, "h1@c1.d1"), Relation::kDirectChild);
  EXPECT_EQ(rel(kCommunity, "u1@c1.D1.h1"), Relation::kInSubtree);
  // The label keeps the request's spelling, the domain the configured one.
  EXPECT_EQ(child(kCommunity, "u1@c1.d1.h1"), "h1@C1.D1");
  const ServerIdentity lower{"d1", "c1"};
  EXPECT_EQ(rel(lower, "U1@C1.D1.H1"), Relation::kInSubtree);
}

TEST(Invalid, BadNamesAreInvalid) {
  for (const char* aor :
       {"", "@", "U1", "U1@", "@C1.D1", "U 1@C1.D1", "U1@C1..D1", "U1@C1.D1.", "U1@.C1", "U1@C1.D1.H1:5060",
        "U1@[::1]", "U..1@C1.D1", ".U1@C1.D1", "U1@C1@D1", "U1@C1.D 1", "t4:x@C1.D1.H1", "U1@C1.D1.H:"}) {
    EXPECT_EQ(rel(kCommunity, aor), Relation::kInvalid) << aor;
  }
}

// An appliance's entity id has a dot in its user part; it is routed like a user.
TEST(Entities, DottedUserPartsAreUsers) {
  EXPECT_EQ(rel(kCommunity, "light.kitchen@C1.D1.H1"), Relation::kInSubtree);
  EXPECT_EQ(child(kCommunity, "light.kitchen@C1.D1.H1"), "H1@C1.D1");
  EXPECT_EQ(rel(kCommunity, "light.kitchen@C1.D1"), Relation::kDirectChild);
}

TEST(Names, RelationNamesForLogs) {
  EXPECT_STREQ(relation_name(Relation::kInSubtree), "in subtree");
  EXPECT_STREQ(relation_name(Relation::kInvalid), "invalid");
}
