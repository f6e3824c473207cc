// Schema versions and migrations, on scratch files with made-up histories
// (the real one has a single version so far).
#include "schema.hpp"

#include <gtest/gtest.h>

#include "sqlite_statement.hpp"
#include "test_support.hpp"

namespace homesip::location_sqlite::testing {
namespace {

constexpr Migration kHistory[] = {
    {1, "CREATE TABLE things (name TEXT NOT NULL)"},
    {2, "ALTER TABLE things ADD COLUMN colour TEXT NOT NULL DEFAULT 'grey'"},
    {3, "CREATE INDEX things_by_colour ON things (colour)"},
};

constexpr Migration kBrokenHistory[] = {
    kHistory[0],
    kHistory[1],
    {3, "CREATE INDEX broken ON no_such_table (x)"},
};

class SchemaTest : public ::testing::Test {
 protected:
  ScratchDirectory directory_;
  std::string path_ = directory_.file("schema.sqlite");
  DatabaseHandle db_ = open_database(path_);
};

TEST_F(SchemaTest, NewFileHasVersionZero) { EXPECT_EQ(stored_schema_version(db_.get()), 0); }

TEST_F(SchemaTest, NewFileGetsTheLocationSchema) {
  migrate_schema(db_.get(), location_schema_migrations());
  EXPECT_EQ(stored_schema_version(db_.get()), current_location_schema_version());
  OutsideConnection file(path_);
  EXPECT_EQ(file.row_count(), 0);
}

TEST_F(SchemaTest, MigratesAnOlderFileUpToTheLastVersionKeepingItsRows) {
  migrate_schema(db_.get(), std::span(kHistory).first(1));
  execute(db_.get(), "INSERT INTO things (name) VALUES ('lamp')");
  ASSERT_EQ(stored_schema_version(db_.get()), 1);

  migrate_schema(db_.get(), kHistory);
  EXPECT_EQ(stored_schema_version(db_.get()), 3);
  OutsideConnection file(path_);
  EXPECT_EQ(file.query_text("SELECT name || ':' || colour FROM things"), "lamp:grey");
  EXPECT_EQ(file.query_integer("SELECT COUNT(*) FROM sqlite_master WHERE name = 'things_by_colour'"), 1);
}

TEST_F(SchemaTest, MigratingAnUpToDateFileChangesNothing) {
  migrate_schema(db_.get(), kHistory);
  migrate_schema(db_.get(), kHistory);
  EXPECT_EQ(stored_schema_version(db_.get()), 3);
}

TEST_F(SchemaTest, FailedStepLeavesTheFileAsItWas) {
  migrate_schema(db_.get(), std::span(kBrokenHistory).first(1));
  EXPECT_THROW(migrate_schema(db_.get(), kBrokenHistory), SchemaError);
  EXPECT_EQ(stored_schema_version(db_.get()), 1);
  OutsideConnection file(path_);
  EXPECT_EQ(file.query_integer("SELECT COUNT(*) FROM pragma_table_info('things') WHERE name = 'colour'"), 0)
      << "step 2 must be rolled back with step 3";
}

TEST_F(SchemaTest, RefusesAFileFromANewerVersion) {
  migrate_schema(db_.get(), kHistory);
  try {
    migrate_schema(db_.get(), std::span(kHistory).first(2));
    FAIL() << "a newer file was accepted";
  } catch (const SchemaError& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
  EXPECT_EQ(stored_schema_version(db_.get()), 3);
}

TEST_F(SchemaTest, MigrationsMustBeNumberedInOrder) {
  constexpr Migration kGap[] = {{1, "SELECT 1"}, {3, "SELECT 1"}};
  EXPECT_THROW(migrate_schema(db_.get(), kGap), std::logic_error);
}

}  // namespace
}  // namespace homesip::location_sqlite::testing
