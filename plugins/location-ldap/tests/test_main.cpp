// gtest's main, with sofia-sip's runtime around it: the tests drive the real
// core loop (su_root), which needs su_init() first.
#include <gtest/gtest.h>
#include <sofia-sip/su.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  su_init();
  const int result = RUN_ALL_TESTS();
  su_deinit();
  return result;
}
