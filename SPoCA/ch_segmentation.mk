# ch_segmentation.x: the SPoCA classification program built for one channel (coronal holes, AIA 193).
PROGRAM = ch_segmentation
DEFINES = -DNUMBERCHANNELS=1
SOURCES = programs/classification.cpp lib/centers_file.cpp lib/map_header.cpp lib/segmentation_map.cpp lib/red_black_tree.cpp $(CORE_LIB_SOURCES)
include common.mk
