// Budgeted coupon allocation (exact for a coupon count, hull greedy for a face-value budget).
#include "marketing/coupon_allocation.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <queue>
#include <set>

#include "core/error.h"

namespace cf::marketing {

namespace {

// Relative slack of the face-value budget, so that binary rounding of decimal face values never
// rejects a combination that fits exactly in decimal.
constexpr double kBudgetSlack = 1e-9;
constexpr int32_t kNoCoupon = -1;

std::string shortest(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

void validate(int64_t users, const std::vector<CouponType>& coupons,
              const std::vector<CouponEffect>& effects, const AllocationOptions& options) {
  if (!(options.budget > 0)) {
    throw UserError("budget must be > 0 (got " + shortest(options.budget) + ")");
  }
  if (!std::isfinite(options.budget)) {
    throw UserError("budget must be finite (got " + shortest(options.budget) + ")");
  }
  if (!(options.value_per_purchase > 0) || !std::isfinite(options.value_per_purchase)) {
    throw UserError("value per purchase must be a finite number > 0 (got " +
                    shortest(options.value_per_purchase) + ")");
  }
  if (coupons.empty()) throw UserError("no coupon types given");
  std::set<std::string> names;
  for (const CouponType& coupon : coupons) {
    if (!(coupon.face_value > 0) || !std::isfinite(coupon.face_value)) {
      throw UserError("coupon '" + coupon.name + "': face value must be a finite number > 0 (got " +
                      shortest(coupon.face_value) + ")");
    }
    if (!(coupon.cost_per_redemption >= 0) || !std::isfinite(coupon.cost_per_redemption)) {
      throw UserError("coupon '" + coupon.name +
                      "': cost per redemption must be a finite number >= 0 (got " +
                      shortest(coupon.cost_per_redemption) + ")");
    }
    if (!names.insert(coupon.name).second) {
      throw UserError("coupon '" + coupon.name + "' is given twice");
    }
  }
  CF_CHECK(users >= 0, "negative user count");
  CF_CHECK(effects.size() == static_cast<size_t>(users) * coupons.size(),
           "coupon effects must hold users x coupon types entries");
  for (size_t i = 0; i < effects.size(); ++i) {
    const CouponEffect& effect = effects[i];
    auto where = [&] {  // built only for the message: there are users x coupon types effects
      return "coupon effect of user " + std::to_string(i / coupons.size()) + ", coupon '" +
             coupons[i % coupons.size()].name + "'";
    };
    if (!std::isfinite(effect.uplift) || !std::isfinite(effect.redemption_probability)) {
      throw UserError(where() + " is not a finite number (uplift " + shortest(effect.uplift) +
                      ", redemption probability " + shortest(effect.redemption_probability) + ")");
    }
    if (effect.redemption_probability < 0 || effect.redemption_probability > 1) {
      throw UserError(where() + ": redemption probability must be within [0, 1] (got " +
                      shortest(effect.redemption_probability) + ")");
    }
  }
}

// The allocation problem with every net value computed once.
struct Problem {
  size_t users = 0, coupons = 0;
  std::vector<double> face;  // per coupon type
  std::vector<double> net;   // [u * coupons + c]
  double net_of(size_t user, int32_t coupon) const {
    return coupon == kNoCoupon ? 0.0 : net[user * coupons + static_cast<size_t>(coupon)];
  }
  double face_of(int32_t coupon) const {
    return coupon == kNoCoupon ? 0.0 : face[static_cast<size_t>(coupon)];
  }
};

// kCoupons: each user's best coupon, then the users with the highest best net.
std::vector<int32_t> allocate_by_count(const Problem& problem, double budget) {
  std::vector<int32_t> chosen(problem.users, kNoCoupon);
  struct Candidate {
    double net;
    size_t user;
    int32_t coupon;
  };
  std::vector<Candidate> candidates;
  for (size_t u = 0; u < problem.users; ++u) {
    int32_t best = kNoCoupon;
    for (size_t c = 0; c < problem.coupons; ++c) {
      const auto coupon = static_cast<int32_t>(c);
      if (problem.net_of(u, coupon) > problem.net_of(u, best)) best = coupon;  // strict: > 0 too
    }
    if (best != kNoCoupon) candidates.push_back({problem.net_of(u, best), u, best});
  }
  // budget >= 1 coupons can be issued only as whole coupons.
  const auto issuable =
      static_cast<size_t>(std::min(std::floor(budget), static_cast<double>(candidates.size())));
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(issuable),
                    candidates.end(), [](const Candidate& x, const Candidate& y) {
                      return x.net != y.net ? x.net > y.net : x.user < y.user;
                    });
  for (size_t i = 0; i < issuable; ++i) chosen[candidates[i].user] = candidates[i].coupon;
  return chosen;
}

// One segment of a user's upper convex hull: moving from coupon `from` to coupon `to`.
struct Upgrade {
  double efficiency;  // net gained per unit of face value
  double face_increase;
  size_t user;
  size_t step;  // position of the segment on the user's hull
  int32_t from, to;
};

// The segments of user u's upper convex hull of (0, 0) and the options with net > 0, in order
// of decreasing efficiency.
void append_hull_upgrades(const Problem& problem, size_t user, std::vector<Upgrade>& upgrades) {
  struct Point {
    double face, net;
    int32_t coupon;
  };
  std::vector<Point> options;
  for (size_t c = 0; c < problem.coupons; ++c) {
    const auto coupon = static_cast<int32_t>(c);
    if (problem.net_of(user, coupon) > 0) {
      options.push_back({problem.face_of(coupon), problem.net_of(user, coupon), coupon});
    }
  }
  std::sort(options.begin(), options.end(), [](const Point& x, const Point& y) {
    if (x.face != y.face) return x.face < y.face;
    if (x.net != y.net) return x.net > y.net;
    return x.coupon < y.coupon;
  });
  std::vector<Point> hull = {{0.0, 0.0, kNoCoupon}};
  for (const Point& point : options) {
    if (point.net <= hull.back().net) continue;  // dominated: costs more, earns no more
    // Drop the last hull point while it lies on or below the segment to the new point.
    while (hull.size() >= 2) {
      const Point& before = hull[hull.size() - 2];
      const Point& last = hull.back();
      const double kept_slope_side = (last.net - before.net) * (point.face - last.face);
      const double new_slope_side = (point.net - last.net) * (last.face - before.face);
      if (kept_slope_side > new_slope_side) break;
      hull.pop_back();
    }
    hull.push_back(point);
  }
  double previous_efficiency = std::numeric_limits<double>::infinity();
  for (size_t step = 1; step < hull.size(); ++step) {
    const double face_increase = hull[step].face - hull[step - 1].face;
    // Rounding in the division could reorder two nearly collinear segments; clamping keeps a
    // user's segments in hull order (ties are broken by step).
    const double efficiency =
        std::min(previous_efficiency, (hull[step].net - hull[step - 1].net) / face_increase);
    previous_efficiency = efficiency;
    upgrades.push_back(
        {efficiency, face_increase, user, step, hull[step - 1].coupon, hull[step].coupon});
  }
}

// kFaceValue: hull greedy, then the leftover budget filled by the best affordable switches.
std::vector<int32_t> allocate_by_face_value(const Problem& problem, double budget) {
  std::vector<int32_t> chosen(problem.users, kNoCoupon);
  const double capacity = budget * (1.0 + kBudgetSlack);
  double issued = 0;
  auto fits = [&](double face_increase) { return issued + face_increase <= capacity; };

  // Phase 2 of the header's description: the LP relaxation's greedy, stopped at the first
  // upgrade that does not fit.
  std::vector<Upgrade> upgrades;
  for (size_t u = 0; u < problem.users; ++u) append_hull_upgrades(problem, u, upgrades);
  std::sort(upgrades.begin(), upgrades.end(), [](const Upgrade& x, const Upgrade& y) {
    if (x.efficiency != y.efficiency) return x.efficiency > y.efficiency;
    if (x.user != y.user) return x.user < y.user;
    return x.step < y.step;
  });
  for (const Upgrade& upgrade : upgrades) {
    if (!fits(upgrade.face_increase)) break;
    CF_CHECK(chosen[upgrade.user] == upgrade.from, "hull upgrades taken out of order");
    chosen[upgrade.user] = upgrade.to;
    issued += upgrade.face_increase;
  }

  // Phase 3: each user's best affordable switch in a max-heap by net gain. The budget left only
  // shrinks, so a popped switch that no longer fits is replaced by that user's best one that
  // does; a switch recorded before its user moved is stale and skipped.
  struct Switch {
    double gain, face_increase;
    size_t user;
    int32_t coupon;
    uint64_t version;
  };
  auto comes_later = [](const Switch& x, const Switch& y) {  // heap order: best on top
    if (x.gain != y.gain) return x.gain < y.gain;
    if (x.face_increase != y.face_increase) return x.face_increase > y.face_increase;
    if (x.user != y.user) return x.user > y.user;
    return x.coupon > y.coupon;
  };
  std::priority_queue<Switch, std::vector<Switch>, decltype(comes_later)> heap(comes_later);
  std::vector<uint64_t> version(problem.users, 0);
  auto best_switch = [&](size_t user) -> std::optional<Switch> {
    const int32_t current = chosen[user];
    std::optional<Switch> best;
    for (size_t c = 0; c < problem.coupons; ++c) {
      const auto coupon = static_cast<int32_t>(c);
      const double gain = problem.net_of(user, coupon) - problem.net_of(user, current);
      const double face_increase = problem.face_of(coupon) - problem.face_of(current);
      if (!(gain > 0) || !fits(face_increase)) continue;
      const Switch candidate{gain, face_increase, user, coupon, version[user]};
      if (!best || comes_later(*best, candidate)) best = candidate;
    }
    return best;
  };
  for (size_t u = 0; u < problem.users; ++u) {
    if (auto next = best_switch(u)) heap.push(*next);
  }
  while (!heap.empty()) {
    const Switch top = heap.top();
    heap.pop();
    if (top.version != version[top.user]) continue;
    if (fits(top.face_increase)) {
      chosen[top.user] = top.coupon;
      issued += top.face_increase;
      ++version[top.user];
    }
    if (auto next = best_switch(top.user)) heap.push(*next);
  }
  return chosen;
}

std::optional<double> parse_finite(const std::string& text) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || ptr != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

}  // namespace

AllocationResult allocate_coupons(int64_t users, const std::vector<CouponType>& coupons,
                                  const std::vector<CouponEffect>& effects,
                                  const AllocationOptions& options) {
  validate(users, coupons, effects, options);
  Problem problem;
  problem.users = static_cast<size_t>(users);
  problem.coupons = coupons.size();
  for (const CouponType& coupon : coupons) problem.face.push_back(coupon.face_value);
  problem.net.resize(effects.size());
  for (size_t i = 0; i < effects.size(); ++i) {
    const CouponType& coupon = coupons[i % coupons.size()];
    problem.net[i] = options.value_per_purchase * effects[i].uplift -
                     coupon.cost_per_redemption * effects[i].redemption_probability;
  }

  const std::vector<int32_t> chosen = options.budget_kind == BudgetKind::kCoupons
                                          ? allocate_by_count(problem, options.budget)
                                          : allocate_by_face_value(problem, options.budget);

  AllocationResult result;
  for (size_t u = 0; u < problem.users; ++u) {
    if (chosen[u] == kNoCoupon) continue;
    const auto c = static_cast<size_t>(chosen[u]);
    const CouponEffect& effect = effects[u * problem.coupons + c];
    result.assignments.push_back({static_cast<int64_t>(u), chosen[u], effect.uplift,
                                  coupons[c].cost_per_redemption * effect.redemption_probability,
                                  problem.net[u * problem.coupons + c]});
  }
  std::sort(result.assignments.begin(), result.assignments.end(),
            [](const Assignment& x, const Assignment& y) {
              return x.net_value != y.net_value ? x.net_value > y.net_value : x.user < y.user;
            });
  for (const Assignment& assignment : result.assignments) {
    result.expected_incremental_purchases += assignment.uplift;
    result.expected_cost += assignment.expected_cost;
    result.face_value_issued += coupons[static_cast<size_t>(assignment.coupon)].face_value;
    result.net_value += assignment.net_value;
  }
  result.budget_used = options.budget_kind == BudgetKind::kCoupons
                           ? static_cast<double>(result.assignments.size())
                           : result.face_value_issued;
  return result;
}

CouponType parse_coupon_spec(const std::string& spec) {
  const std::string context = "coupon spec '" + spec + "': ";
  std::vector<std::string> fields;
  for (size_t start = 0;;) {
    const size_t colon = spec.find(':', start);
    fields.push_back(
        spec.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (fields.size() < 2 || fields.size() > 3) {
    throw UserError(context + "expected NAME:FACE_VALUE[:COST_PER_REDEMPTION]");
  }
  if (fields[0].empty()) throw UserError(context + "missing the coupon name");
  const std::optional<double> face = parse_finite(fields[1]);
  if (!face) throw UserError(context + "face value '" + fields[1] + "' is not a finite number");
  if (!(*face > 0))
    throw UserError(context + "face value must be > 0 (got " + shortest(*face) + ")");
  double cost = *face;
  if (fields.size() == 3) {
    const std::optional<double> parsed = parse_finite(fields[2]);
    if (!parsed) {
      throw UserError(context + "cost per redemption '" + fields[2] + "' is not a finite number");
    }
    if (*parsed < 0) {
      throw UserError(context + "cost per redemption must be >= 0 (got " + shortest(*parsed) + ")");
    }
    cost = *parsed;
  }
  return {fields[0], *face, cost};
}

}  // namespace cf::marketing
