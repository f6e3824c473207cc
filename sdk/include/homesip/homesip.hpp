// Everything a plugin needs, in one include.
#pragma once

#include "homesip/admin.hpp"
#include "homesip/attributes.hpp"
#include "homesip/binding_list.hpp"
#include "homesip/client.hpp"
#include "homesip/context.hpp"
#include "homesip/handler.hpp"
#include "homesip/location_store.hpp"
#include "homesip/log.hpp"
#include "homesip/loop.hpp"
#include "homesip/plugin.hpp"
#include "homesip/reply.hpp"
#include "homesip/request.hpp"
#include "homesip/settings.hpp"
#include "homesip/uri.hpp"
#include "homesip/user_store.hpp"
#include "homesip/version.hpp"
