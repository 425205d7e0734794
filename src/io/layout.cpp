#include "src/io/layout.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "src/base/diagnostic.hpp"

namespace attn {

namespace {

constexpr Layout kLayouts[] = {Layout::bshd, Layout::bhsd, Layout::bs_hd, Layout::s_hd};

int axis_of(char letter) {
  switch (letter) {
    case 'b': return 0;
    case 's': return 1;
    case 'h': return 2;
    default: return 3;
  }
}

// Strides, in elements, of the bshd axes when the tensor is stored in order `o`.
std::array<std::int64_t, 4> strides_in(const AxisOrder& o, const Index4& dims) {
  std::array<std::int64_t, 4> stride{};
  std::int64_t step = 1;
  for (int k = 3; k >= 0; --k) {
    stride[axis_of(o[k])] = step;
    step *= dims[axis_of(o[k])];
  }
  return stride;
}

template <class Fn>
void for_each_bshd(const Index4& dims, const AxisOrder& o, Fn&& fn) {
  const auto st = strides_in(o, dims);
  std::int64_t n = 0;
  for (std::int64_t b = 0; b < dims[0]; ++b)
    for (std::int64_t s = 0; s < dims[1]; ++s)
      for (std::int64_t h = 0; h < dims[2]; ++h) {
        const std::int64_t base = b * st[0] + s * st[1] + h * st[2];
        for (std::int64_t d = 0; d < dims[3]; ++d) fn(n++, base + d * st[3]);
      }
}

}  // namespace

std::string_view layout_name(Layout l) {
  switch (l) {
    case Layout::bshd: return "bshd";
    case Layout::bhsd: return "bhsd";
    case Layout::bs_hd: return "bs(hd)";
    case Layout::s_hd: return "s(hd)";
  }
  return "?";
}

std::optional<Layout> layout_from_name(std::string_view name) {
  for (Layout l : kLayouts)
    if (name == layout_name(l)) return l;
  if (name == "bs_hd") return Layout::bs_hd;
  if (name == "s_hd") return Layout::s_hd;
  return std::nullopt;
}

std::vector<std::string> layout_names() {
  std::vector<std::string> names;
  for (Layout l : kLayouts) names.emplace_back(layout_name(l));
  return names;
}

std::optional<std::vector<std::int64_t>> layout_shape(Layout l, const Index4& dims) {
  const auto [B, S, H, D] = dims;
  switch (l) {
    case Layout::bshd: return std::vector<std::int64_t>{B, S, H, D};
    case Layout::bhsd: return std::vector<std::int64_t>{B, H, S, D};
    case Layout::bs_hd: return std::vector<std::int64_t>{B, S, H * D};
    case Layout::s_hd:
      if (B != 1) return std::nullopt;
      return std::vector<std::int64_t>{S, H * D};
  }
  return std::nullopt;
}

AxisOrder layout_order(Layout l) {
  return l == Layout::bhsd ? AxisOrder{'b', 'h', 's', 'd'} : AxisOrder{'b', 's', 'h', 'd'};
}

std::string order_name(const AxisOrder& o) { return std::string(o.begin(), o.end()); }

std::vector<double> permute_from_bshd(std::span<const double> bshd, const Index4& dims, const AxisOrder& to) {
  std::vector<double> out(bshd.size());
  for_each_bshd(dims, to, [&](std::int64_t n, std::int64_t at) { out[at] = bshd[n]; });
  return out;
}

std::vector<double> permute_to_bshd(std::span<const double> values, const Index4& dims, const AxisOrder& from) {
  std::vector<double> out(values.size());
  for_each_bshd(dims, from, [&](std::int64_t n, std::int64_t at) { out[n] = values[at]; });
  return out;
}

bool layout_to_bshd(Layout l, const std::vector<std::int64_t>& shape, std::span<const double> values,
                    const Index4& dims, const std::string& what, std::vector<double>* out, std::string* err) {
  const auto expected = layout_shape(l, dims);
  if (expected && *expected == shape && values.size() == std::size_t(dims[0] * dims[1] * dims[2] * dims[3])) {
    *out = permute_to_bshd(values, dims, layout_order(l));
    return true;
  }
  std::vector<std::string> accepted, fits;
  for (Layout other : kLayouts)
    if (auto s = layout_shape(other, dims)) {
      accepted.push_back(fmt::format("{} [{}]", layout_name(other), fmt::join(*s, ", ")));
      if (*s == shape) fits.emplace_back(layout_name(other));
    }
  const std::string why =
      expected ? fmt::format("the output has shape [{}], but layout {} expects [{}]", fmt::join(shape, ", "),
                             layout_name(l), fmt::join(*expected, ", "))
               : fmt::format("layout {} cannot hold a batch of {} (it has no batch axis)", layout_name(l), dims[0]);
  *err = fmt::format("{}: error: {}\nnote: accepted shapes for B={} Sq={} H={} D={}: {}", what, why, dims[0], dims[1],
                     dims[2], dims[3], fmt::join(accepted, ", "));
  if (!fits.empty())
    *err += fmt::format("\nnote: the shape is the {} one: pass --layout '{}'", fmt::join(fits, " / "), fits.front());
  return false;
}

std::vector<double> layout_from_bshd(Layout l, std::span<const double> bshd, const Index4& dims,
                                     std::vector<std::int64_t>* shape) {
  const auto s = layout_shape(l, dims);
  if (!s) {
    shape->clear();
    return {};
  }
  *shape = *s;
  return permute_from_bshd(bshd, dims, layout_order(l));
}

std::string unknown_layout_message(std::string_view name) {
  return fmt::format("error: unknown layout '{}'\nnote: layouts: {}", printable(name), fmt::join(layout_names(), ", "));
}

}  // namespace attn
