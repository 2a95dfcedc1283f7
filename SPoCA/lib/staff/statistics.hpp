// The STAFF statistics of a region of an EUV image and their CSV text (compat 8.7 and 8.8).
#pragma once

#include <array>
#include <cstddef>
#include <ctime>
#include <string>
#include <vector>

namespace spoca {

/// The area a pixel stands for, seen from a reference sun centre (cx, cy) and radius R in pixels
/// (compat 8.7): raw = (695.508 * 695.508) / (R * R) Mm^2, and at disk centre raw * R / sqrt(sigma) unless
/// that factor exceeds the Higgins limit of 16.
class PixelArea {
public:
    PixelArea(double centerX, double centerY, double radius);

    double raw() const { return raw_; }
    /// Adds the pixel's area at disk centre to `sum` when its Higgins factor is at most 16.
    void addAtDiskCenter(int i, int j, double& sum) const;

private:
    double centerX_;
    double centerY_;
    double radius_;
    double raw_;
};

/// The part of a region's statistics that depends only on which pixels it holds: the number of pixels
/// fed and the two area sums, accumulated in feeding (scan) order.
class RegionAreas {
public:
    explicit RegionAreas(const PixelArea& area) : area_(area) {}

    /// Counts pixel (i, j) in the region.
    void add(int i, int j) {
        ++pixels_;
        areaRaw_ += area_.raw();
        area_.addAtDiskCenter(i, j, areaAtDiskCenter_);
    }

    std::size_t pixels() const { return pixels_; }
    double areaRaw() const { return areaRaw_; }
    double areaAtDiskCenter() const { return areaAtDiskCenter_; }

private:
    PixelArea area_;
    std::size_t pixels_ = 0;
    double areaRaw_ = 0.0;
    double areaAtDiskCenter_ = 0.0;
};

/// The columns MinIntensity to FillingFactor of one CSV row (compat 8.7).
struct RegionStatistics {
    double minIntensity;
    double maxIntensity;
    double mean;
    double median;
    double lowerQuartile;
    double upperQuartile;
    double variance;
    double skewness;
    double kurtosis;
    double totalIntensity;
    double areaRaw;
    double areaAtDiskCenter;
    double fillingFactor;
};

/// The statistics of a region whose finite intensities are values[0, count), in scan order; they are left in
/// the order the three selections (median, lower then upper quartile, compat 10.2) put them, which is the
/// order the moments are summed in. An empty region gives NaN statistics and a total of 0.
RegionStatistics regionStatistics(double* values, std::size_t count, const RegionAreas& areas, double fillingFactor);

/// numerator / denominator, where 0 / 0 gives the negative NaN that the original's run-time division
/// gives on x86-64 (printed "-nan", compat 10.4).
double fillingFactor(double numerator, double denominator);

/// The five rows of a STAFF CSV, in file order (compat 8.7).
inline const std::array<const char*, 5> staffRowTypes = {"AR_all", "CH_central_meridian", "CH_ondisc", "AR_ondisc",
                                                          "QS_ondisc"};

/// The CSV header line, with its newline.
std::string staffCsvHeader(const std::string& separator);
/// One CSV line: channel, type, the observation time as YYYY-MM-DDTHH:MM:SS (UTC), then every statistic
/// as printf("%.6f"), with its newline (compat 8.8).
std::string staffCsvRow(const std::string& channel, const std::string& type, std::time_t observationTime,
                        const RegionStatistics& statistics, const std::string& separator);

}  // namespace spoca
