// The SDK's version: the one number pair a plugin and the core must agree on.
#pragma once

// Major: bumped on any change that breaks a plugin built against an older SDK
// (a changed virtual function, struct layout or semantics). The core refuses a
// plugin whose major differs from its own.
#define HOMESIP_SDK_VERSION_MAJOR 3
// Minor: bumped when something is added compatibly (a new interface, a new
// virtual function appended at the end of an interface, a new inline helper).
// A plugin built for a minor newer than the core's is refused too (it may call
// what the core lacks).
#define HOMESIP_SDK_VERSION_MINOR 3

#define HOMESIP_SDK_STR2(x) #x
#define HOMESIP_SDK_STR(x) HOMESIP_SDK_STR2(x)

// C++ objects cross the plugin boundary, so the compiler and standard library
// ABI must match too. This string is compiled into both sides and compared.
#if defined(__GNUC__) && !defined(__clang__)
#define HOMESIP_SDK_COMPILER "gcc-" HOMESIP_SDK_STR(__GNUC__)
#elif defined(__clang__)
#define HOMESIP_SDK_COMPILER "clang-" HOMESIP_SDK_STR(__clang_major__)
#else
#define HOMESIP_SDK_COMPILER "unknown"
#endif

#define HOMESIP_SDK_TOOLCHAIN \
  HOMESIP_SDK_COMPILER        \
  "/gxxabi-" HOMESIP_SDK_STR(__GXX_ABI_VERSION) "/cxx11abi-" HOMESIP_SDK_STR(_GLIBCXX_USE_CXX11_ABI)
