# ch_segmentation.x: the SPoCA classification program built for one channel (coronal holes, AIA 193).
PROGRAM = ch_segmentation
DEFINES = -DNUMBERCHANNELS=1
SOURCES = programs/classification.cpp $(CLASSIFICATION_LIB_SOURCES) $(CORE_LIB_SOURCES)
include common.mk
