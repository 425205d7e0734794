// Layouts of an external output: every layout round-trips into bshd, a known element lands where
// the layout says, and a shape that fits no layout lists the accepted ones.
#include "src/io/layout.hpp"

#include <catch2/catch.hpp>

#include <numeric>

using namespace attn;
using Catch::Matchers::Contains;

namespace {

std::vector<double> iota(std::size_t n) {
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), 0.0);
  return v;
}

}  // namespace

TEST_CASE("layout: names, with the shell-friendly aliases", "[layout]") {
  CHECK(layout_names() == std::vector<std::string>{"bshd", "bhsd", "bs(hd)", "s(hd)"});
  for (const std::string& n : layout_names()) CHECK(layout_name(*layout_from_name(n)) == n);
  CHECK(layout_from_name("bs_hd") == Layout::bs_hd);
  CHECK(layout_from_name("s_hd") == Layout::s_hd);
  CHECK_FALSE(layout_from_name("bsdh"));
}

TEST_CASE("layout: every layout round-trips through bshd, across sizes", "[layout]") {
  for (const Index4 dims : {Index4{1, 5, 3, 4}, Index4{2, 3, 4, 2}, Index4{1, 1, 1, 1}, Index4{3, 1, 2, 5}, Index4{1, 7, 1, 3}}) {
    const std::vector<double> bshd = iota(std::size_t(dims[0] * dims[1] * dims[2] * dims[3]));
    for (const std::string& name : layout_names()) {
      const Layout l = *layout_from_name(name);
      INFO(name << " dims " << dims[0] << "x" << dims[1] << "x" << dims[2] << "x" << dims[3]);
      std::vector<std::int64_t> shape;
      const std::vector<double> stored = layout_from_bshd(l, bshd, dims, &shape);
      if (l == Layout::s_hd && dims[0] > 1) {  // no batch axis to hold B > 1
        CHECK(shape.empty());
        CHECK_FALSE(layout_shape(l, dims));
        continue;
      }
      CHECK(shape == *layout_shape(l, dims));
      std::vector<double> back;
      std::string err;
      REQUIRE(layout_to_bshd(l, shape, stored, dims, "out.npy", &back, &err));
      CHECK(back == bshd);
    }
  }
}

TEST_CASE("layout: elements land where each layout puts them", "[layout]") {
  const Index4 dims{2, 3, 4, 5};  // B, Sq, H, D
  const std::vector<double> bshd = iota(2 * 3 * 4 * 5);
  const auto at = [&](std::int64_t b, std::int64_t s, std::int64_t h, std::int64_t d) {
    return bshd[((b * 3 + s) * 4 + h) * 5 + d];
  };
  std::vector<std::int64_t> shape;
  const std::vector<double> bhsd = layout_from_bshd(Layout::bhsd, bshd, dims, &shape);
  CHECK(shape == std::vector<std::int64_t>{2, 4, 3, 5});
  CHECK(bhsd[((1 * 4 + 3) * 3 + 2) * 5 + 4] == at(1, 2, 3, 4));  // [b][h][s][d]
  CHECK(layout_from_bshd(Layout::bs_hd, bshd, dims, &shape) == bshd);  // same order, grouped shape
  CHECK(shape == std::vector<std::int64_t>{2, 3, 20});
  const std::vector<double> bsdh = permute_from_bshd(bshd, dims, {'b', 's', 'd', 'h'});
  CHECK(bsdh[((1 * 3 + 2) * 5 + 4) * 4 + 3] == at(1, 2, 3, 4));
  const std::vector<double> sbhd = permute_from_bshd(bshd, dims, {'s', 'b', 'h', 'd'});
  CHECK(sbhd[((2 * 2 + 1) * 4 + 3) * 5 + 4] == at(1, 2, 3, 4));
  CHECK(permute_to_bshd(sbhd, dims, {'s', 'b', 'h', 'd'}) == bshd);
}

TEST_CASE("layout: a wrong shape lists the accepted shapes and names the layout it fits", "[layout]") {
  const Index4 dims{1, 8, 4, 16};
  const std::vector<double> values(8 * 4 * 16);
  std::vector<double> out;
  std::string err;
  // The bhsd shape read as bshd: say which layout it is.
  CHECK_FALSE(layout_to_bshd(Layout::bshd, {1, 4, 8, 16}, values, dims, "out.npy", &out, &err));
  CHECK_THAT(err, Contains("out.npy: error: the output has shape [1, 4, 8, 16], but layout bshd expects [1, 8, 4, 16]"));
  CHECK_THAT(err, Contains("accepted shapes for B=1 Sq=8 H=4 D=16: bshd [1, 8, 4, 16], bhsd [1, 4, 8, 16], bs(hd) [1, 8, 64], "
                           "s(hd) [8, 64]"));
  CHECK_THAT(err, Contains("the shape is the bhsd one: pass --layout 'bhsd'"));
  // A shape that fits nothing.
  CHECK_FALSE(layout_to_bshd(Layout::bshd, {1, 8, 4, 17}, std::vector<double>(8 * 4 * 17), dims, "o", &out, &err));
  CHECK_THAT(err, Contains("accepted shapes"));
  CHECK_THAT(err, !Contains("pass --layout"));
  // s(hd) cannot hold a batch.
  CHECK_FALSE(layout_to_bshd(Layout::s_hd, {16, 64}, std::vector<double>(2 * 8 * 4 * 16), {2, 8, 4, 16}, "o", &out, &err));
  CHECK_THAT(err, Contains("layout s(hd) cannot hold a batch of 2"));
  CHECK_THAT(err, Contains("bs(hd) [2, 8, 64]"));
}
