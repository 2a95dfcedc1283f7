# ar_segmentation.x: the SPoCA classification program built for two channels (active regions, AIA 171 + 193).
PROGRAM = ar_segmentation
DEFINES = -DNUMBERCHANNELS=2
SOURCES = programs/classification.cpp lib/centers_file.cpp lib/map_header.cpp lib/segmentation_map.cpp lib/red_black_tree.cpp $(CORE_LIB_SOURCES)
include common.mk
