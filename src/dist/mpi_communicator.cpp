// mpi_communicator.cpp — MPI start-up, collectives and errors.
#include "mnist_ddp/dist/mpi_communicator.hpp"

#include <cstdlib>
#include <limits>
#include <sstream>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

void throw_mpi_error(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  std::ostringstream s;
  s << "MPI error in " << call << ": " << std::string(text, len) << " [" << file << ':' << line << ']';
  throw RuntimeError(s.str());
}

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
  MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &thread_level_));
  // Errors come back as codes that MPI_CHECK turns into exceptions.
  MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
}

MpiRuntime::~MpiRuntime() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiRuntime::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

MpiCommunicator::MpiCommunicator(double comm_timeout_seconds) {
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node_));
  MPI_CHECK(MPI_Comm_rank(node_, &local_rank_));
  MPI_CHECK(MPI_Comm_size(node_, &local_size_));
  // A world of one never waits for another rank: nothing to watch.
  if (comm_timeout_seconds > 0 && size_ > 1) {
    int level = MPI_THREAD_SINGLE;
    MPI_CHECK(MPI_Query_thread(&level));
    watchdog_ = std::make_unique<CommWatchdog>(rank_, comm_timeout_seconds, [level] {
      // MPI_Abort makes the launcher (mpirun, srun) end every rank, the hung
      // one included. From this thread it is only allowed at THREAD_MULTIPLE;
      // otherwise exit without MPI_Finalize, which mpirun also treats as a
      // failure of the job.
      if (level == MPI_THREAD_MULTIPLE) MPI_Abort(MPI_COMM_WORLD, 1);
      std::_Exit(1);
    });
  }
}

MpiCommunicator::~MpiCommunicator() {
  watchdog_.reset();
  if (node_ != MPI_COMM_NULL) MPI_Comm_free(&node_);
}

namespace {
template <typename T>
void allreduce_chunks(T* data, std::size_t count, MPI_Datatype type) {
  // MPI counts are int: reduce very large buffers in pieces.
  constexpr std::size_t kMax = static_cast<std::size_t>(std::numeric_limits<int>::max());
  for (std::size_t off = 0; off < count; off += kMax) {
    const int n = static_cast<int>(std::min(kMax, count - off));
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data + off, n, type, MPI_SUM, MPI_COMM_WORLD));
  }
}
}  // namespace

void MpiCommunicator::allreduce_sum(float* data, std::size_t count) {
  if (size_ == 1) return;
  const auto scope = watch("MPI_Allreduce");
  allreduce_chunks(data, count, MPI_FLOAT);
}
void MpiCommunicator::allreduce_sum(double* data, std::size_t count) {
  if (size_ == 1) return;
  const auto scope = watch("MPI_Allreduce");
  allreduce_chunks(data, count, MPI_DOUBLE);
}
void MpiCommunicator::allreduce_sum(std::int64_t* data, std::size_t count) {
  if (size_ == 1) return;
  const auto scope = watch("MPI_Allreduce");
  allreduce_chunks(data, count, MPI_INT64_T);
}

void MpiCommunicator::broadcast(void* data, std::size_t bytes, int root) {
  if (size_ == 1) return;
  const auto scope = watch("MPI_Bcast");
  MPI_CHECK(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD));
}

void MpiCommunicator::start_allreduce_sum(float* data, std::size_t count) {
  if (size_ == 1) return;
  MNIST_ASSERT(count <= static_cast<std::size_t>(std::numeric_limits<int>::max()), "bucket too large");
  MPI_Request request;
  MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &request));
  pending_.push_back(request);
}

void MpiCommunicator::progress() {
  if (pending_.empty()) return;
  int done = 0;
  MPI_CHECK(MPI_Testall(static_cast<int>(pending_.size()), pending_.data(), &done, MPI_STATUSES_IGNORE));
  if (done) pending_.clear();
}

void MpiCommunicator::wait_all() {
  if (pending_.empty()) return;
  const auto scope = watch("MPI_Waitall (gradient buckets)");
  MPI_CHECK(MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE));
  pending_.clear();
}

void MpiCommunicator::barrier() {
  const auto scope = watch("MPI_Barrier");
  MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
}

}  // namespace mnist_ddp
