// user_error_of: the message of the UserError a call throws, for tests of error messages.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"

namespace cf::testing {

// The what() of the UserError `fn` throws; "" and a test failure if it throws none.
template <class Fn>
std::string user_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const UserError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a UserError";
  return "";
}

}  // namespace cf::testing
