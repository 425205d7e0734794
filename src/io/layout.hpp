// Layouts of an attention output O as external kernels hand it back (SPEC §8 `--layout`), and the
// conversions into the harness's own bshd. Kernels disagree on the order of tokens and heads and on
// whether heads are flattened into the hidden size; this file is the one place that knows them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "src/suite/problem.hpp"

namespace attn {

/// How an output file lays out O[B][Sq][H][D]:
///   bshd   [B][Sq][H][D]  the native layout (gpt-oss, FlashAttention)
///   bhsd   [B][H][Sq][D]  PyTorch scaled_dot_product_attention
///   bs(hd) [B][Sq][H*D]   flattened hidden, as attention modules return it
///   s(hd)  [Sq][H*D]      the same without the batch (B must be 1)
enum class Layout { bshd, bhsd, bs_hd, s_hd };

std::string_view layout_name(Layout l);  // "bshd", "bhsd", "bs(hd)", "s(hd)"
/// The layout of that name; "bs_hd" and "s_hd" are accepted too (no parentheses to quote in a shell).
std::optional<Layout> layout_from_name(std::string_view name);
std::vector<std::string> layout_names();
/// "error: unknown layout 'x'" and a note listing the layouts: what the CLI prints and Python raises.
std::string unknown_layout_message(std::string_view name);

/// The shape O has in layout l, or nullopt when l cannot hold it (s(hd) with B > 1).
/// dims = {B, Sq, H, D}.
std::optional<std::vector<std::int64_t>> layout_shape(Layout l, const Index4& dims);

/// The order of the four axes in memory, as the letters b, s, h, d ("bshd", "bhsd", "bsdh", "sbhd").
/// bshd, bs(hd) and s(hd) share the order "bshd"; they only differ in how the shape groups it.
using AxisOrder = std::array<char, 4>;
AxisOrder layout_order(Layout l);
std::string order_name(const AxisOrder& o);

/// Rewrites a bshd tensor in another axis order (row-major in that order).
std::vector<double> permute_from_bshd(std::span<const double> bshd, const Index4& dims, const AxisOrder& to);
/// The inverse: a tensor stored in order `from` back to bshd.
std::vector<double> permute_to_bshd(std::span<const double> values, const Index4& dims, const AxisOrder& from);

/// Converts `values` of shape `shape`, laid out as `l`, into bshd. A shape that is not l's is an
/// error that lists every accepted shape and names the layout the shape does fit, if one does.
/// `what` starts the message (usually the file name).
bool layout_to_bshd(Layout l, const std::vector<std::int64_t>& shape, std::span<const double> values,
                    const Index4& dims, const std::string& what, std::vector<double>* out, std::string* err);

/// bshd -> layout l: the values in l's order and the shape l gives them; empty (and an empty
/// shape) when l cannot hold these dims.
std::vector<double> layout_from_bshd(Layout l, std::span<const double> bshd, const Index4& dims,
                                     std::vector<std::int64_t>* shape);

}  // namespace attn
