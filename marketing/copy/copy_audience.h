// Who a copy is for (issue 16, `cartformer copy --user / --users`): for each user of a behaviour
// corpus, the behaviour model's next-item distribution (the user's whole history as "now")
// chooses the product to write about (the most likely item of the campaign's --items list) and
// the segment tag (the category holding the most predicted probability mass, mapped to a copy
// segment by --segment-map: predicted category affinity).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "trainer/cooccurrence_prior.h"
#include "trainer/model/model.h"

namespace cf::marketing::copy {

// The campaign's products: raw item id -> product title (and aspect, optional per row).
struct CatalogueTitle {
  std::string item, title, aspect;
};
// CSV with a header naming `item` and `title` (and optionally `aspect`): UserError naming the
// file and line for a malformed line, an empty title, malformed UTF-8 or a repeated item.
std::vector<CatalogueTitle> read_catalogue_titles(const std::string& path);
// CSV `category,segment` with that header: the copy segment for users whose predicted
// affinity is highest for a category. UserError naming the file and line.
std::map<std::string, std::string> read_segment_map(const std::string& path);
// The `user_key` column of a CSV (the output of cartformer target or its coupon plan).
std::vector<std::string> read_user_keys(const std::string& path);

struct AudienceChoice {
  std::string user;  // pseudonymous key
  const CatalogueTitle* product = nullptr;
  double product_probability = 0;  // P(next item = that product) under the behaviour model
  std::string category;            // raw id of the category with the most predicted mass
  double category_mass = 0;
  std::string segment;  // the copy segment it maps to
};

// For each key (UserError naming the corpus for an unknown one): the product and segment.
// Catalogue items that the corpus does not know are skipped (UserError when none is known). A
// top category missing from `segment_by_category` takes `default_segment`; UserError naming
// --segment-map when that is empty. `prior`: the behaviour checkpoint's co-occurrence prior
// (trainer::cooccurrence_prior_of), added to the scores as eval, generate and target do.
std::vector<AudienceChoice> choose_audience(
    trainer::Model& behaviour, const trainer::CooccurrencePrior& prior,
    const data::CorpusReader& corpus, const std::vector<std::string>& user_keys,
    const std::vector<CatalogueTitle>& catalogue,
    const std::map<std::string, std::string>& segment_by_category,
    const std::string& default_segment);

}  // namespace cf::marketing::copy
