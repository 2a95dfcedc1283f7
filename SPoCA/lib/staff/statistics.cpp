#include "staff/statistics.hpp"

#include <cmath>
#include <limits>

#include "core/header_values.hpp"
#include "core/percentiles.hpp"

namespace spoca {

namespace {
constexpr double sunRadiusMm = 695.508;  ///< SUN_RADIUS of the original, not RSUN_REF
constexpr double higginsFactor = 16;
constexpr double nan = std::numeric_limits<double>::quiet_NaN();
}  // namespace

PixelArea::PixelArea(double centerX, double centerY, double radius)
    : centerX_(centerX), centerY_(centerY), radius_(radius), raw_(sunRadiusMm * sunRadiusMm / (radius * radius)) {}

void PixelArea::addAtDiskCenter(int i, int j, double& sum) const {
    const double dx = std::fabs(i - centerX_);
    const double dy = std::fabs(j - centerY_);
    const double sigma = radius_ * radius_ - dx * dx - dy * dy;
    const double factor = sigma > 0 ? radius_ / std::sqrt(sigma) : higginsFactor + 1;
    if (factor <= higginsFactor) sum += raw_ * factor;
}

RegionStatistics regionStatistics(double* values, std::size_t count, const RegionAreas& areas, double fillingFactor) {
    RegionStatistics s{nan, nan, nan, nan, nan, nan, nan, nan, nan, 0.0,
                       areas.areaRaw(), areas.areaAtDiskCenter(), fillingFactor};
    if (count == 0) return s;
    const double* const end = values + count;
    s.minIntensity = values[0];
    s.maxIntensity = values[0];
    for (const double* v = values; v != end; ++v) {
        s.totalIntensity += *v;
        if (*v < s.minIntensity) s.minIntensity = *v;
        if (*v > s.maxIntensity) s.maxIntensity = *v;
    }
    s.median = select(values, count, 0.5);
    s.lowerQuartile = select(values, count, 0.25);
    s.upperQuartile = select(values, count, 0.75);
    const double n = static_cast<double>(count);
    s.mean = s.totalIntensity / n;
    double m2 = 0.0;
    double m3 = 0.0;
    double m4 = 0.0;
    for (const double* v = values; v != end; ++v) {
        const double delta = *v - s.mean;
        const double delta2 = delta * delta;
        m2 += delta2;
        m4 += delta2 * delta2;
        m3 += delta2 * delta;
    }
    s.variance = m2 / n;
    if (m2 > 0) {
        s.skewness = std::sqrt(n) * m3 / std::sqrt(m2 * m2 * m2);
        s.kurtosis = n * m4 / (m2 * m2) - 3;
    }
    return s;
}

double fillingFactor(double numerator, double denominator) {
    if (numerator == 0 && denominator == 0) return -nan;
    return numerator / denominator;
}

std::string staffCsvHeader(const std::string& separator) {
    static const char* const columns[] = {"Channel",       "Type",          "ObservationDate", "MinIntensity",
                                          "MaxIntensity",  "Mean",          "Median",          "LowerQuartile",
                                          "UpperQuartile", "Variance",      "Skewness",        "Kurtosis",
                                          "TotalIntensity", "Area_Raw",     "Area_AtDiskCenter", "FillingFactor"};
    std::string line;
    for (const char* column : columns) {
        if (!line.empty()) line += separator;
        line += column;
    }
    return line + "\n";
}

std::string staffCsvRow(const std::string& channel, const std::string& type, std::time_t observationTime,
                        const RegionStatistics& s, const std::string& separator) {
    std::tm utc{};
    gmtime_r(&observationTime, &utc);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &utc);
    std::string line = channel + separator + type + separator + date;
    for (const double value : {s.minIntensity, s.maxIntensity, s.mean, s.median, s.lowerQuartile, s.upperQuartile,
                               s.variance, s.skewness, s.kurtosis, s.totalIntensity, s.areaRaw, s.areaAtDiskCenter,
                               s.fillingFactor}) {
        line += separator;
        line += fixed6(value);
    }
    return line + "\n";
}

}  // namespace spoca
