# get_STAFF_stats.x: STAFF statistics of CH, AR and QS regions in EUV images (compat 8).
PROGRAM = get_STAFF_stats
SOURCES = programs/get_STAFF_stats.cpp $(STAFF_LIB_SOURCES) $(CORE_LIB_SOURCES)
include common.mk
