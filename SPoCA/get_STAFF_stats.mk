# get_STAFF_stats.x: STAFF statistics of CH, AR and QS regions in EUV images (spec section 8).
PROGRAM = get_STAFF_stats
SOURCES = programs/get_STAFF_stats.cpp lib/header_template.cpp lib/heliographic.cpp lib/registered_image.cpp \
          lib/registration.cpp lib/staff_regions.cpp lib/staff_statistics.cpp $(CORE_LIB_SOURCES)
include common.mk
