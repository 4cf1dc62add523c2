#include "loops/link_emu.h"

#include <cmath>

namespace nmc {

LinkEmu::LinkEmu(const LinkEmuConfig& cfg) : cfg_(cfg), rng_(cfg.seed) {
  if (cfg_.bw_den == 0) cfg_.bw_den = 1;
  if (cfg_.loss == LossKind::kBit) log_keep_bit_ = std::log1p(-cfg_.loss_rate);
  if (cfg_.delay == DelayKind::kUniform && cfg_.delay_max_ns < cfg_.delay_min_ns) cfg_.delay_max_ns = cfg_.delay_min_ns;
  if (cfg_.delay == DelayKind::kExponential && cfg_.delay_mean_ns < cfg_.delay_min_ns) cfg_.delay_mean_ns = cfg_.delay_min_ns;
}

uint64_t LinkEmu::draw_delay() {
  switch (cfg_.delay) {
    case DelayKind::kConstant:
      return cfg_.delay_min_ns;
    case DelayKind::kUniform: {
      // Every ns of [min, max] equally likely (the span + 1 values, by 53-bit fraction).
      uint64_t span = cfg_.delay_max_ns - cfg_.delay_min_ns;
      uint64_t x = uint64_t(rng_.unit() * (double(span) + 1.0));
      return cfg_.delay_min_ns + (x > span ? span : x);
    }
    case DelayKind::kExponential: {
      // Inverse of the CDF: -ln(1 - u) is exponential with mean 1; 1 - u is in (0, 1].
      double e = -std::log1p(-rng_.unit());
      return cfg_.delay_min_ns + uint64_t(e * double(cfg_.delay_mean_ns - cfg_.delay_min_ns));
    }
    default:
      return 0;
  }
}

bool LinkEmu::draw_loss(uint32_t len) {
  switch (cfg_.loss) {
    case LossKind::kPacket:
      return rng_.unit() < cfg_.loss_rate;
    case LossKind::kBit: {
      // P(no bit of 8 * len hit) = (1 - ber)^(8 * len); lost with the rest.
      double p = -std::expm1(double(len) * 8.0 * log_keep_bit_);
      return rng_.unit() < p;
    }
    default:
      return false;
  }
}

LinkEmu::Out LinkEmu::pass(uint64_t offered_ns, uint32_t len) {
  using u128 = unsigned __int128;
  Out o;
  uint64_t t = offered_ns;
  if (cfg_.bw_num) {
    u128 start = u128(offered_ns) * cfg_.bw_num;
    if (start > link_free_) link_free_ = start;
    link_free_ += u128(uint64_t(len) + cfg_.bw_overhead) * 8u * 1000000000u * cfg_.bw_den;
    t = uint64_t((link_free_ + cfg_.bw_num - 1) / cfg_.bw_num);  // out once its last bit is
  }
  // Every packet takes its draws in the same order (loss, then delay), lost or not, so the
  // schedule is a function of the seed and the offers alone.
  o.lost = draw_loss(len);
  t += draw_delay();
  if (t < last_out_) t = last_out_;  // never before the packet ahead of it: no reordering
  o.at_ns = t;
  if (o.lost) ++lost_;
  else last_out_ = t;
  return o;
}

}  // namespace nmc
