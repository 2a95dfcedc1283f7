#include "core/preprocessing.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <future>
#include <limits>
#include <sstream>
#include <vector>

#include "core/constants.hpp"
#include "core/error.hpp"
#include "core/input_checks.hpp"
#include "core/parallel.hpp"
#include "core/percentiles.hpp"

namespace spoca {

namespace {

constexpr double null = std::numeric_limits<double>::infinity();

// The pixel-wise steps on one row. Each computes the step's value of every pixel and keeps it only for the pixels
// the step changes (a select, not a branch), which the compiler vectorises: the same operations on each pixel,
// so the same values. The clones: AVX2 (four doubles an operation) where the processor has it, else SSE2.

/// NAR: the pixels of row y (relative to the centre) farther than sqrt(limit) from (cx, .) become null.
__attribute__((target_clones("avx2", "default"))) void nullifyRowBeyond(double* row, int width, double y, double cx,
                                                                        double limit) {
    for (int i = 0; i < width; ++i) {
        const double x = i - cx;
        row[i] = x * x + y * y > limit ? null : row[i];
    }
}

__attribute__((target_clones("avx2", "default"))) void divideRow(double* row, int width, double d) {
    for (int i = 0; i < width; ++i) row[i] = row[i] != null ? row[i] / d : row[i];
}

/// v < low ? low : v, then v > high ? high : v, on the non-null values.
__attribute__((target_clones("avx2", "default"))) void clampRow(double* row, int width, double low, double high) {
    for (int i = 0; i < width; ++i) {
        const double v = row[i];
        const double atLeastLow = v < low ? low : v;
        const double clamped = atLeastLow > high ? high : atLeastLow;
        row[i] = v != null ? clamped : v;
    }
}

/// sqrt(v), or -sqrt(-v) for a negative v, on the non-null values.
__attribute__((target_clones("avx2", "default"))) void sqrtRow(double* row, int width) {
    for (int i = 0; i < width; ++i) {
        const double v = row[i];
        const double root = v >= 0 ? std::sqrt(v) : -std::sqrt(-v);
        row[i] = v != null ? root : v;
    }
}

/// The constants of the annulus limb correction's pixel loops (compat 3.2).
struct AnnulusGeometry {
    double cx, minR, minR2, maxR2, delta, R;
    double r1, r2, r3, r4;
    double slopeIn, phaseIn;    ///< F on r1 < rho < r2: (sin(slopeIn * rho + phaseIn) + 1) / 2
    double slopeOut, phaseOut;  ///< F on r3 < rho < r4
};

/// ALC's annulus of a pixel of value v at squared distance d2 from the centre: trunc((sqrt(d2) - minR) / delta) for
/// a non-null pixel with minR2 < d2 <= maxR2, -1 for the others (a double: the conversion to unsigned is left to
/// the caller). Always inlined: a call would keep the row kernels below from being vectorised.
__attribute__((always_inline)) inline double annulusOf(double d2, double v, const AnnulusGeometry& g) {
    const bool ring = d2 > g.minR2 && d2 <= g.maxR2 && v != null;
    return ring ? std::trunc((std::sqrt(d2) - g.minR) / g.delta) : -1.0;
}

/// annulusOf() of the pixels [first, end) of a row at y = j - cy.
__attribute__((target_clones("avx2", "default"))) void annulusRow(const double* row, int first, int end, double y,
                                                                  const AnnulusGeometry& g, double* annulus) {
    for (int i = first; i < end; ++i) {
        const double x = i - g.cx;
        annulus[i] = annulusOf(x * x + y * y, row[i], g);
    }
}

/// ALC's second pass, first half, on the pixels [first, end) of a row at y = j - cy: the annulus (annulusOf()) and
/// the correction fraction F(rho) where it is 0 or 1; where F needs the sine, `needsSine` is set and `argument`
/// holds the sine's argument (std::sin stays scalar: no vector sine gives its values).
__attribute__((target_clones("avx2", "default"))) void correctionRow(const double* row, int first, int end,
                                                                     double y, const AnnulusGeometry& g,
                                                                     double* annulus, double* fraction,
                                                                     double* argument, std::int64_t* needsSine) {
    for (int i = first; i < end; ++i) {
        const double x = i - g.cx;
        const double d2 = x * x + y * y;
        const double rho = std::sqrt(d2) / g.R;
        annulus[i] = annulusOf(d2, row[i], g);
        const bool zero = rho <= g.r1 || rho >= g.r4;
        const bool one = rho >= g.r2 && rho <= g.r3;
        fraction[i] = zero ? 0.0 : 1.0;
        argument[i] = rho < g.r2 ? g.slopeIn * rho + g.phaseIn : g.slopeOut * rho + g.phaseOut;
        needsSine[i] = annulus[i] >= 0 && !zero && !one;
    }
}

/// ALC's second pass, second half: v' = (1 - f) * v + ((f * v) * median) / mean for the pixels [first, end) of a
/// row whose annulus is not negative (`means[i]`: the mean of the pixel's annulus).
__attribute__((target_clones("avx2", "default"))) void correctRow(double* row, int first, int end,
                                                                  const double* annulus, const double* fraction,
                                                                  const double* means, double median) {
    for (int i = first; i < end; ++i) {
        const double v = row[i];
        const double f = fraction[i];
        const double corrected = (1 - f) * v + ((f * v) * median) / means[i];
        row[i] = annulus[i] >= 0 ? corrected : v;
    }
}

/// The pixel-wise steps that follow one another in a preprocessing list, applied in one pass over the image:
/// each row goes through every step in turn while it is in the cache, instead of one pass over the whole image
/// per step. Every step is a function of the pixel's value (and, for NAR, of its position) alone, applied to the
/// non-null values (NAR: to all), so running them per row in order gives each pixel the values the separate
/// passes give it. Steps that need the whole image (ALC, DivMedian, the percentile thresholds) run() the chain
/// first.
class PixelChain {
public:
    explicit PixelChain(EuvImage& image) : image_(image) {}

    /// NAR: the pixels farther than sqrt(limit) from (cx, cy) become null (compat 3.2).
    void nullifyBeyond(double limit) { steps_.push_back({Kind::Nullify, limit, 0.0}); }
    void divide(double d) { steps_.push_back({Kind::Divide, d, 0.0}); }
    /// v < low ? low : v, then v > high ? high : v.
    void clamp(double low, double high) { steps_.push_back({Kind::Clamp, low, high}); }
    void takeSqrt() { steps_.push_back({Kind::Sqrt, 0.0, 0.0}); }
    void takeLog() { steps_.push_back({Kind::Log, 0.0, 0.0}); }
    void takeAbs() { steps_.push_back({Kind::Abs, 0.0, 0.0}); }

    /// Applies the pending steps, rows split between threads, and forgets them.
    void run() {
        if (steps_.empty()) return;
        const int width = image_.pixels.width();
        double* data = image_.pixels.data();
        const double cx = image_.wcs.centerX;
        const double cy = image_.wcs.centerY;
        forEachRowBlock(image_.pixels.height(), [&](int first, int end) {
            for (int j = first; j < end; ++j) {
                double* row = data + static_cast<std::size_t>(j) * width;
                for (const Step& s : steps_) apply(s, row, width, j - cy, cx);
            }
        });
        steps_.clear();
    }

private:
    enum class Kind { Nullify, Divide, Clamp, Sqrt, Log, Abs };
    struct Step {
        Kind kind;
        double a;
        double b;
    };

    static void apply(const Step& s, double* row, int width, double y, double cx) {
        switch (s.kind) {
            case Kind::Nullify:
                nullifyRowBeyond(row, width, y, cx, s.a);
                break;
            case Kind::Divide:
                divideRow(row, width, s.a);
                break;
            case Kind::Clamp:
                clampRow(row, width, s.a, s.b);
                break;
            case Kind::Sqrt:
                sqrtRow(row, width);
                break;
            case Kind::Log:
                for (int i = 0; i < width; ++i) {
                    const double v = row[i];
                    if (v != null) row[i] = v > 0 ? std::log(v) : v < 0 ? -std::log(-v) : null;
                }
                break;
            case Kind::Abs:
                for (int i = 0; i < width; ++i) row[i] = row[i] != null ? std::fabs(row[i]) : row[i];
                break;
        }
    }

    EuvImage& image_;
    std::vector<Step> steps_;
};

/// The value of rank int((n-1)*p) among the n non-null pixels, for 0.5 <= p < 1 (what select() returns,
/// compat 10.2), without copying the pixels.
double nonNullRankValue(const EuvImage& image, double p) {
    const Image<double>& pixels = image.pixels;
    const unsigned parts = defaultThreads();
    const std::size_t chunk = (pixels.size() + parts - 1) / parts;
    try {
        return rankValue(
            parts,
            [&](unsigned part, auto&& f) {
                const double* v = pixels.data();
                const std::size_t end = std::min(pixels.size(), (part + 1) * chunk);
                for (std::size_t k = part * chunk; k < end; ++k) {
                    if (v[k] != null) f(v[k]);
                }
            },
            p);
    } catch (const Error&) {
        throw Error(image.path + ": no valid pixel left to compute a percentile");
    }
}

/// The percentile p of the non-null pixels, exactly as the original's select (compat 10.2).
double percentile(const EuvImage& image, double p) {
    if (p >= 0.5 && p < 1) return nonNullRankValue(image, p);
    std::vector<double> values;
    for (const double v : image.pixels.pixels()) {
        if (v != null) values.push_back(v);
    }
    if (values.empty()) throw Error(image.path + ": no valid pixel left to compute a percentile");
    return select(values, p);
}

/// Annulus limb correction (compat 3.2).
void annulusLimbCorrection(EuvImage& image, double maxRadius) {
    const double r1 = 70 / 100.0, r2 = 95 / 100.0, r3 = 108 / 100.0, r4 = 112 / 100.0;
    const double delta = 2;
    const double R = image.wcs.sunRadius;
    const double cx = image.wcs.centerX;
    const double cy = image.wcs.centerY;
    const double minR = r1 * R;
    const double maxR = std::min(r4, maxRadius) * R;
    const double minR2 = minR * minR;
    const double maxR2 = maxR * maxR;
    if (!(maxR >= minR)) return;  // nothing in the annulus (maxRadius below r1): no correction
    const auto annuli = static_cast<std::size_t>(static_cast<unsigned>((maxR - minR) / delta) + 2);
    std::vector<double> sum(annuli, 0.0);
    std::vector<double> count(annuli, 0.0);
    const int width = image.pixels.width();
    const int height = image.pixels.height();
    double* data = image.pixels.data();
    // Columns of row j that can be within sqrt(r2) of the centre (conservative; the exact test follows).
    auto columnsWithin = [&](double r2, int j, int& first, int& end) {
        const double y = j - cy;
        const double half = r2 - y * y;
        if (half < 0) {
            first = end = 0;
            return;
        }
        const double reach = std::sqrt(half) + 2;
        const double w = width;
        first = static_cast<int>(std::min(w, std::max(0.0, std::floor(cx - reach))));
        end = static_cast<int>(std::max(0.0, std::min(w, std::ceil(cx + reach) + 1)));
        if (first > end) first = end;
    };
    // Columns of row j that are surely within sqrt(r2) (conservative by 2 pixels).
    auto surelyWithin = [&](double r2, int j, int& first, int& end) {
        const double y = j - cy;
        const double half = r2 - y * y;
        first = end = 0;
        if (half <= 16) return;
        const double reach = std::sqrt(half) - 2;
        const double w = width;
        first = static_cast<int>(std::min(w, std::max(0.0, std::ceil(cx - reach))));
        end = static_cast<int>(std::max(0.0, std::min(w, std::floor(cx + reach))));
        if (first > end) first = end;
    };
    // Calls f(a, b) for the spans of columns of row j that can hold pixels of the annulus minR < d <= maxR
    // between the radii sqrt(inner2) and sqrt(outer2): those within sqrt(outer2), less those surely within
    // sqrt(inner2). The kernels then test each pixel exactly.
    auto ringSpans = [&](int j, double inner2, double outer2, auto f) {
        int first = 0, end = 0, skipFirst = 0, skipEnd = 0;
        columnsWithin(outer2, j, first, end);
        surelyWithin(inner2, j, skipFirst, skipEnd);
        if (skipEnd > skipFirst && skipFirst >= first && skipEnd <= end) {
            f(first, skipFirst);
            f(skipEnd, end);
        } else {
            f(first, end);
        }
    };
    // F(rho) (compat 3.2 step 5): 0 for rho <= r1 or rho >= r4, 1 on [r2, r3], else (sin(T * rho + phi) + 1) / 2
    // with these slopes T = (2. * pi) / period and phases phi, computed as the spec writes them.
    const AnnulusGeometry g{cx, minR, minR2, maxR2, delta, R, r1, r2, r3, r4,
                            (2. * pi) / (-2 * (r1 - r2)), ((pi / 2.) * (r1 + r2)) / (r1 - r2),
                            (2. * pi) / (2 * (r3 - r4)), ((-pi / 2.) * (r3 + r4)) / (r3 - r4)};
    // First pass: the sum of each annulus in scan order, as the original adds them. The annuli are split
    // into an inner and an outer group of about equal area, each summed on its own thread (every annulus
    // still sums its pixels in scan order), while the disc median is computed.
    const double splitRadius = std::sqrt((minR2 + maxR2) / 2);
    const auto split = static_cast<unsigned>((splitRadius - minR) / delta);
    const double splitAt = minR + split * delta;
    auto sumAnnuli = [&](bool outer) {
        const double inner2 = outer ? (splitAt - 2) * (splitAt - 2) : minR2;
        const double outer2 = outer ? maxR2 : (splitAt + 2) * (splitAt + 2);
        std::vector<double> annulus(static_cast<std::size_t>(width));
        for (int j = 0; j < height; ++j) {
            const double* row = data + static_cast<std::size_t>(j) * width;
            ringSpans(j, inner2, outer2, [&](int a, int b) {
                annulusRow(row, a, b, j - cy, g, annulus.data());
                for (int i = a; i < b; ++i) {
                    if (annulus[i] < 0) continue;
                    const auto k = static_cast<unsigned>(annulus[i]);
                    if ((k >= split) != outer) continue;
                    sum[k] += row[i];
                    count[k] += 1;
                }
            });
        }
    };
    auto innerSums = startTask([&sumAnnuli] { sumAnnuli(false); });
    auto outerSums = startTask([&sumAnnuli] { sumAnnuli(true); });
    // The lower median of the values within minR, without copying them (compat 3.2 step 3).
    double median = 0.0;
    try {
        const unsigned parts = defaultThreads();
        const int rowsPerPart = (height + static_cast<int>(parts) - 1) / static_cast<int>(parts);
        median = rankValue(
            parts,
            [&](unsigned part, auto&& f) {
                const int endRow = std::min(height, static_cast<int>(part + 1) * rowsPerPart);
                for (int j = static_cast<int>(part) * rowsPerPart; j < endRow; ++j) {
                    const double y = j - cy;
                    const double* row = data + static_cast<std::size_t>(j) * width;
                    int first = 0, end = 0;
                    columnsWithin(minR2, j, first, end);
                    for (int i = first; i < end; ++i) {
                        const double x = i - cx;
                        if (row[i] != null && x * x + y * y <= minR2) f(row[i]);
                    }
                }
            },
            0.5);
    } catch (const Error&) {
        innerSums.get();
        outerSums.get();
        throw Error(image.path + ": no valid pixel inside 0.7 solar radius for the limb correction (ALC)");
    }
    innerSums.get();
    outerSums.get();
    std::vector<double> mean(annuli, 0.0);
    for (std::size_t k = 0; k < annuli; ++k) {
        if (count[k] > 0) mean[k] = sum[k] / count[k];
    }
    forEachRowBlock(height, [&](int first, int end) {
        const auto w = static_cast<std::size_t>(width);
        std::vector<double> annulus(w), fraction(w), argument(w), means(w);
        std::vector<std::int64_t> needsSine(w);
        for (int j = first; j < end; ++j) {
            double* row = data + static_cast<std::size_t>(j) * width;
            ringSpans(j, minR2, maxR2, [&](int a, int b) {
                correctionRow(row, a, b, j - cy, g, annulus.data(), fraction.data(), argument.data(),
                              needsSine.data());
                for (int i = a; i < b; ++i) {
                    if (annulus[i] < 0) continue;
                    if (needsSine[i]) fraction[i] = (std::sin(argument[i]) + 1) / 2;
                    means[i] = mean[static_cast<unsigned>(annulus[i])];
                }
                correctRow(row, a, b, annulus.data(), fraction.data(), means.data(), median);
            });
        }
    });
}

}  // namespace

double PreprocessingStep::parameter() const {
    std::istringstream stream(parameterText);
    double value = 0.0;
    stream >> value;
    return value;
}

std::vector<PreprocessingStep> parsePreprocessingSteps(const std::string& steps) {
    std::vector<PreprocessingStep> list;
    if (steps.empty()) return list;
    std::string::size_type start = 0;
    while (true) {
        const auto comma = steps.find(',', start);
        PreprocessingStep step;
        step.text = steps.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        const auto equal = step.text.find('=');
        step.name = step.text.substr(0, equal);
        const auto first = step.name.find_first_not_of(" \t");
        step.name.erase(0, first == std::string::npos ? step.name.size() : first);
        step.hasEquals = equal != std::string::npos;
        if (step.hasEquals) step.parameterText = step.text.substr(equal + 1);
        list.push_back(std::move(step));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return list;
}

void preprocess(EuvImage& image, const std::string& steps) {
    double maxRadius = std::numeric_limits<double>::infinity();
    PixelChain pixelSteps(image);
    for (const PreprocessingStep& parsed : parsePreprocessingSteps(steps)) {
        const std::string& step = parsed.text;
        const std::string& name = parsed.name;
        const bool hasParameter = parsed.hasParameter();
        const double parameter = hasParameter ? parsed.parameter() : 0.0;
        if (name == "NAR") {
            // Nullify above radius: pixels farther than r*R from the centre become null (compat 3.2).
            const double r = hasParameter ? parameter : 1.0;
            if (!hasParameter || r < maxRadius) {
                pixelSteps.nullifyBeyond(((r * r) * image.wcs.sunRadius) * image.wcs.sunRadius);
                maxRadius = r;
            }
        } else if (name == "DivExpTime") {
            const double exposure = image.exposureTime;
            if (exposure == 0) throw Error(image.path + ": Trying to divide pixels by 0 (EXPTIME is 0)");
            pixelSteps.divide(exposure);
        } else if (name == "ALC") {
            pixelSteps.run();
            annulusLimbCorrection(image, maxRadius);
        } else if (name == "DivMedian") {
            pixelSteps.run();
            const double median = percentile(image, 0.5);
            if (median == 0) throw Error(image.path + ": Trying to divide pixels by 0 (the median is 0)");
            pixelSteps.divide(median);
        } else if (name == "ThrMaxPer" || name == "ThrMinPer") {
            if (!hasParameter) throw Error("No value specified for threshold preprocessing step" + step);
            const double p = parameter / 100.;
            if (p < 0 || p > 1) throw Error("Percentiles must be values between 0 and 1 (step " + step + ")");
            pixelSteps.run();
            const double q = percentile(image, p);
            if (name == "ThrMaxPer") {
                pixelSteps.clamp(DBL_MIN, q);
            } else {
                pixelSteps.clamp(q, DBL_MAX);
            }
        } else if (name == "ThrMin" || name == "ThrMax") {
            if (!hasParameter) throw Error("No value specified for threshold preprocessing step" + step);
            const double low = name == "ThrMin" ? parameter : DBL_MIN;
            const double high = name == "ThrMin" ? DBL_MAX : parameter;
            pixelSteps.clamp(low, high);
        } else if (name == "TakeSqrt") {
            pixelSteps.takeSqrt();
        } else if (name == "TakeLog") {
            pixelSteps.takeLog();
        } else if (name == "TakeAbs") {
            pixelSteps.takeAbs();
        } else if (name == "ThrMinMode" || name == "ThrMaxMode" || name == "DivMode" || name == "Smooth") {
            throw Error("preprocessing step " + step + " is not supported by this implementation");
        } else {
            throw Error("Unknown preprocessing step " + step);
        }
    }
    pixelSteps.run();
}

EuvImage readPreprocessedImage(const std::string& path, ImageType type, const std::string& steps,
                               const MemoryBound& bound) {
    EuvImage image = readEuvImage(path, type, bound);
    checkHasUsablePixel(image);
    preprocess(image, steps);
    return image;
}

}  // namespace spoca
