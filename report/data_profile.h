// The data profile of a corpus for reports: the view -> cart -> buy funnel, order values where
// prices exist, repurchase rate, events per user, and each action's next-event purchase rate.
#pragma once
#include "core/json.h"
#include "data/corpus.h"

namespace cf::report {

// One pass over every sequence (read in chunks; memory does not grow with the corpus). The JSON:
//   events, users, items, categories, activities, time_source;
//   actions: {view: n, fav: n, cart: n, buy: n};
//   funnel: [{stage, events, users}] for view, cart, buy (users = users with at least one);
//   rates: cart_per_view (click-through proxy), buy_per_cart (conversion), buy_per_view, and the
//          same per user (users_carting_per_viewing, users_buying_per_carting);
//   order_value: {priced_purchases, purchases, mean, median (upper middle), total} from /stats/item_price, or
//                {"available": false, "reason": ...};
//   repurchase: {buyers, repeat_buyers (2+ purchases), same_item_repeat_buyers, rate, same_item_rate};
//   events_per_user: {mean, p10, p50, p90, p99, max, histogram: [{lower, upper, users}]} with
//                    power-of-two bins [1,2), [2,4), ...;
//   next_purchase_rate_by_last_action: {action name: share of training-part events after an
//                    event of that action that are purchases} (the propensity baseline).
Json profile_corpus(const data::CorpusReader& corpus);

}  // namespace cf::report
