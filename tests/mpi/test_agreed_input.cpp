// test_agreed_input.cpp — errors across ranks (dist/agreed_input.hpp) and the
// gather of a text per rank (the report's node names), under real MPI.
//
// read_on_every_rank: the same InputError on every rank becomes
// AgreedInputError everywhere (one message, exit 2 without MPI_Abort); an
// InputError on one rank only stays an InputError there and is PeerInputError
// on the others; different messages are not "alike"; no error, no exception.
// On one rank every InputError stays what it was. Collective like the rest of
// the suite: every rank makes the same calls.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mnist_ddp/dist/agreed_input.hpp"
#include "mnist_ddp/dist/mpi_communicator.hpp"

namespace mnist_ddp {
namespace {

// What read_on_every_rank threw on this rank: "agreed", "input", "peer" or "none".
std::string outcome(Communicator& comm, bool fail, const std::string& message) {
  try {
    read_on_every_rank(comm, [&] {
      if (fail) throw InputError(message);
    });
  } catch (const AgreedInputError& e) {
    EXPECT_EQ(std::string(e.what()), message);
    return "agreed";
  } catch (const InputError&) {
    return "input";
  } catch (const PeerInputError&) {
    return "peer";
  }
  return "none";
}

TEST(MpiAgreedInput, SameErrorOnEveryRankIsAgreed) {
  MpiCommunicator comm;
  EXPECT_EQ(outcome(comm, true, "train-labels-idx1-ubyte: bad magic"), comm.size() > 1 ? "agreed" : "input");
}

TEST(MpiAgreedInput, ErrorOnOneRankOnlyIsNotAgreed) {
  MpiCommunicator comm;
  const bool last = comm.rank() == comm.size() - 1;
  const std::string got = outcome(comm, last, "data directory '/tmp/mnist' does not exist");
  EXPECT_EQ(got, last ? "input" : "peer");
}

TEST(MpiAgreedInput, DifferentMessagesAreNotAgreed) {
  MpiCommunicator comm;
  const std::string got = outcome(comm, true, "error on rank " + std::to_string(comm.rank()));
  EXPECT_EQ(got, "input");
}

TEST(MpiAgreedInput, NoErrorNoException) {
  MpiCommunicator comm;
  EXPECT_EQ(outcome(comm, false, ""), "none");
}

TEST(MpiAgreedInput, AllGatherTextGivesEveryRanksText) {
  MpiCommunicator comm;
  const std::vector<std::string> names = all_gather_text(comm, "node-" + std::to_string(comm.rank() * 7));
  ASSERT_EQ(names.size(), static_cast<std::size_t>(comm.size()));
  for (int r = 0; r < comm.size(); ++r) EXPECT_EQ(names[r], "node-" + std::to_string(r * 7));
  // Longer than the slot: cut, not overflowing into the next rank's.
  const std::vector<std::string> cut = all_gather_text(comm, std::string(100, 'x'), 8);
  for (const std::string& s : cut) EXPECT_EQ(s, std::string(8, 'x'));
}

}  // namespace
}  // namespace mnist_ddp
