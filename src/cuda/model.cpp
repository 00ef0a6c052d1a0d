// model.cpp — the GPU model: layers, flat device buffers, forward and backward.
#include "mnist_ddp/cuda/model.hpp"

#include <algorithm>
#include <sstream>

#include "mnist_ddp/nn/sequential.hpp"

namespace mnist_ddp::cuda {

CudaModel::CudaModel(const std::vector<LayerSpec>& specs, Shape3 input, int max_batch, CudaContext& ctx)
    : layout_(specs, input), max_batch_(max_batch), ctx_(ctx), params_(layout_.param_count()),
      grads_(layout_.param_count()), state_(layout_.state_count()) {
  MNIST_ASSERT(max_batch > 0, "empty batch");
  params_.zero(ctx.stream());
  grads_.zero(ctx.stream());
  state_.zero(ctx.stream());
  for (const LayerLayout& l : layout_.layers()) {
    layers_.push_back(make_cuda_layer(l, ctx));
    layers_.back()->bind(params_.data() + l.param_offset, grads_.data() + l.param_offset, state_.data() + l.state_offset);
    layers_.back()->reserve(max_batch);
    acts_.emplace_back(static_cast<std::size_t>(max_batch) * l.output.size());
  }
  grad_a_.reset(static_cast<std::size_t>(max_batch) * layout_.widest());
  grad_b_.reset(static_cast<std::size_t>(max_batch) * layout_.widest());
  ctx.synchronize();
}

void CudaModel::upload(const Model& host) {
  MNIST_CHECK(host.specs().size() == specs().size() && host.input_shape() == input_shape() &&
                  host.params().size() == params_.size() && host.state().size() == state_.size(),
              RuntimeError,
              "host model (" << host.specs().size() << " layers, " << host.params().size() << " parameters, "
                             << host.state().size() << " state values) does not match the GPU model ("
                             << specs().size() << ", " << params_.size() << ", " << state_.size() << ")");
  ctx_.synchronize();  // nothing queued may still read the old weights
  params_.upload(host.params().data(), params_.size());
  if (!state_.empty()) state_.upload(host.state().data(), state_.size());
}

void CudaModel::download(Model& host) const {
  MNIST_CHECK(host.params().size() == params_.size() && host.state().size() == state_.size(), RuntimeError,
              "host model does not match the GPU model");
  ctx_.synchronize();
  params_.download(host.params().data(), params_.size());
  if (!state_.empty()) state_.download(host.state().data(), state_.size());
}

const float* CudaModel::forward(const float* x, int n, const ForwardContext& ctx) {
  MNIST_ASSERT(n > 0 && n <= max_batch_, "batch of " << n << " exceeds the model's " << max_batch_);
  last_input_ = x;
  last_n_ = n;
  return sequential_forward(layers_, acts_, x, n, ctx);
}

void CudaModel::backward(const float* dlogits, int n, const std::function<void(std::size_t)>& on_layer_done) {
  MNIST_ASSERT(last_input_ != nullptr && n == last_n_,
               "backward of " << n << " samples after a forward of " << last_n_);
  MNIST_CUDA_CHECK(cudaMemcpyAsync(grad_a_.data(), dlogits, sizeof(float) * n * num_outputs(),
                                   cudaMemcpyDeviceToDevice, ctx_.stream()));
  sequential_backward(layers_, acts_, last_input_, grad_a_.data(), grad_b_.data(), n, on_layer_done);
}

std::string CudaModel::describe() const {
  std::ostringstream s;
  for (const auto& layer : layers_) {
    const Shape3 o = layer->output_shape();
    s << layer->name() << " -> (" << o.h << ", " << o.w << ", " << o.c << ")";
    const std::string how = layer->describe();
    if (!how.empty()) s << ": " << how;
    s << '\n';
  }
  return s.str();
}

}  // namespace mnist_ddp::cuda
