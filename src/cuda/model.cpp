// model.cpp — the GPU model: layers, flat device buffers, forward and backward.
#include "mnist_ddp/cuda/model.hpp"

#include <algorithm>
#include <sstream>

namespace mnist_ddp::cuda {

CudaModel::CudaModel(const std::vector<LayerSpec>& specs, Shape3 input, int max_batch, CudaContext& ctx)
    : specs_(specs), input_(input), max_batch_(max_batch), ctx_(ctx) {
  MNIST_ASSERT(!specs_.empty() && max_batch > 0, "empty model or batch");
  Shape3 shape = input;
  std::size_t nparams = 0, nstate = 0, widest = input.size();
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    const std::string name = std::string(keras_class_name(specs_[i].kind)) + " #" + std::to_string(i);
    layers_.push_back(make_cuda_layer(specs_[i], shape, name, static_cast<std::uint32_t>(i), ctx));
    shape = layers_.back()->output_shape();
    nparams += layers_.back()->param_count();
    nstate += layers_.back()->state_count();
    widest = std::max(widest, shape.size());
  }
  params_.reset(nparams);
  grads_.reset(nparams);
  state_.reset(nstate);
  params_.zero(ctx.stream());
  grads_.zero(ctx.stream());
  state_.zero(ctx.stream());
  std::size_t p = 0, s = 0;
  for (auto& layer : layers_) {
    offsets_.push_back(p);
    layer->bind(params_.data() + p, grads_.data() + p, state_.data() + s);
    layer->reserve(max_batch);
    p += layer->param_count();
    s += layer->state_count();
    acts_.emplace_back(static_cast<std::size_t>(max_batch) * layer->output_shape().size());
  }
  grad_a_.reset(static_cast<std::size_t>(max_batch) * widest);
  grad_b_.reset(static_cast<std::size_t>(max_batch) * widest);
  ctx.synchronize();
}

void CudaModel::upload(const Model& host) {
  MNIST_CHECK(host.specs().size() == specs_.size() && host.input_shape() == input_ &&
                  host.params().size() == params_.size() && host.state().size() == state_.size(),
              RuntimeError,
              "host model (" << host.specs().size() << " layers, " << host.params().size() << " parameters, "
                             << host.state().size() << " state values) does not match the GPU model ("
                             << specs_.size() << ", " << params_.size() << ", " << state_.size() << ")");
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
  const float* in = x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->forward(in, acts_[i].data(), n, ctx);
    in = acts_[i].data();
  }
  return in;
}

void CudaModel::backward(const float* dlogits, int n, const std::function<void(std::size_t)>& on_layer_done) {
  MNIST_ASSERT(last_input_ != nullptr && n == last_n_,
               "backward of " << n << " samples after a forward of " << last_n_);
  MNIST_CUDA_CHECK(cudaMemcpyAsync(grad_a_.data(), dlogits, sizeof(float) * n * num_outputs(),
                                   cudaMemcpyDeviceToDevice, ctx_.stream()));
  float* dy = grad_a_.data();
  float* dx = grad_b_.data();
  for (std::size_t i = layers_.size(); i-- > 0;) {
    const float* x = i == 0 ? last_input_ : acts_[i - 1].data();
    layers_[i]->backward(x, acts_[i].data(), dy, i == 0 ? nullptr : dx, n);
    if (on_layer_done) on_layer_done(i);
    std::swap(dy, dx);
  }
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
