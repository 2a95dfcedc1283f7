# Shared build rules of the SPoCA programs (run from SPoCA/, e.g. `make -C SPoCA -f ch_segmentation.mk`).
# A program's makefile sets PROGRAM (binary name without .x), SOURCES (paths relative to SPoCA/) and,
# if needed, DEFINES, then includes this file. SOURCES may use CORE_LIB_SOURCES, the library files every
# program shares. Objects go to objects/$(PROGRAM)/ so that programs built with different defines
# (NUMBERCHANNELS) never share an object file; the binary goes to bin/$(PROGRAM).x.

CORE_LIB_SOURCES = lib/arguments.cpp lib/error.cpp lib/file_paths.cpp lib/fits_file.cpp lib/header.cpp lib/header_values.cpp lib/temporary_file.cpp \
                   lib/input_checks.cpp lib/memory_bound.cpp \
                   lib/preprocessing.cpp lib/selection.cpp lib/sun_image.cpp

CXXFLAGS += -std=c++17 -O2 -Wall -Wextra -ffp-contract=off -fno-math-errno -pthread
CPPFLAGS += $(shell pkg-config --cflags cfitsio) $(DEFINES) -MMD -MP
LDLIBS += $(shell pkg-config --libs cfitsio) -pthread

OBJDIR := objects/$(PROGRAM)
OBJECTS := $(SOURCES:%.cpp=$(OBJDIR)/%.o)
BINARY := bin/$(PROGRAM).x

.PHONY: all clean
.DEFAULT_GOAL := all

all: $(BINARY)

$(BINARY): $(OBJECTS)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(LDFLAGS) -o $@ $(OBJECTS) $(LDLIBS)

# Objects also depend on the makefiles, so that a change of flags or defines rebuilds them.
$(OBJDIR)/%.o: %.cpp $(MAKEFILE_LIST)
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

clean:
	rm -rf $(OBJDIR) $(BINARY)

-include $(OBJECTS:.o=.d)
