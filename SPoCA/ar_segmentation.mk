# ar_segmentation.x: the SPoCA classification program built for two channels (active regions, AIA 171 + 193).
PROGRAM = ar_segmentation
DEFINES = -DNUMBERCHANNELS=2
SOURCES = programs/classification.cpp $(CLASSIFICATION_LIB_SOURCES) $(CORE_LIB_SOURCES)
include common.mk
