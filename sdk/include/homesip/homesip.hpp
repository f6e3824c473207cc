// Everything a plugin needs, in one include.
#pragma once

#include "homesip/binding_list.hpp"
#include "homesip/context.hpp"
#include "homesip/handler.hpp"
#include "homesip/location_store.hpp"
#include "homesip/log.hpp"
#include "homesip/loop.hpp"
#include "homesip/plugin.hpp"
#include "homesip/reply.hpp"
#include "homesip/request.hpp"
#include "homesip/settings.hpp"
#include "homesip/version.hpp"
