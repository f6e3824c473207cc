// The test kit in one include: a manual loop, request and response builders,
// a fake request in the chain and a fake PluginContext -- enough to unit-test
// a plugin with no server. The store conformance suites need GTest and are
// included on their own (location_store_conformance.hpp, user_store_conformance.hpp).
//
// CMake: find_package(homesip-sdk 2.0), then link homesip::sdk_testkit (and GTest).
#pragma once

#include "homesip/testkit/fake_context.hpp"
#include "homesip/testkit/fake_incoming.hpp"
#include "homesip/testkit/manual_loop.hpp"
#include "homesip/testkit/request_builder.hpp"
