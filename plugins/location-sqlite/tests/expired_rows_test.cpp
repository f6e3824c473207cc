// The keys of rows the load found expired (expired_rows.hpp): taken back in
// the order added, at most as many as asked, every text whole.
#include "expired_rows.hpp"

#include <gtest/gtest.h>

#include <string>

namespace homesip::location_sqlite::testing {
namespace {

TEST(ExpiredRowsTest, RowsAreTakenInTheOrderAddedAtMostAsManyAsAsked) {
  ExpiredRows rows;
  for (int i = 0; i < 5; ++i)
    rows.add("u" + std::to_string(i) + "@home.test", "sip:" + std::to_string(i) + "@x");
  EXPECT_EQ(rows.size(), 5u);
  const std::vector<ExpiredContact> first = rows.take(3);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0].aor, "u0@home.test");
  EXPECT_EQ(first[2].contact, "sip:2@x");
  EXPECT_EQ(rows.size(), 2u);
  const std::vector<ExpiredContact> rest = rows.take(3);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].aor, "u3@home.test");
  EXPECT_EQ(rest[1].contact, "sip:4@x");
  EXPECT_TRUE(rows.empty());
  EXPECT_TRUE(rows.take(3).empty());
}

TEST(ExpiredRowsTest, EmptyLongAndBinaryTextsSurvive) {
  ExpiredRows rows;
  const std::string long_contact = "sip:" + std::string(70'000, 'c') + "@192.0.2.1";
  const std::string with_nul("a\0b", 3);
  rows.add("", long_contact);
  rows.add(with_nul, "");
  const std::vector<ExpiredContact> taken = rows.take(10);
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0].aor, "");
  EXPECT_EQ(taken[0].contact, long_contact);
  EXPECT_EQ(taken[1].aor, with_nul);
  EXPECT_EQ(taken[1].contact, "");
}

TEST(ExpiredRowsTest, AddingAfterEverythingWasTakenStartsOver) {
  ExpiredRows rows;
  rows.add("a@home.test", "sip:a@x");
  ASSERT_EQ(rows.take(1).size(), 1u);
  rows.add("b@home.test", "sip:b@x");
  const std::vector<ExpiredContact> taken = rows.take(5);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].aor, "b@home.test");
}

}  // namespace
}  // namespace homesip::location_sqlite::testing
