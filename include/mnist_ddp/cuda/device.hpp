// device.hpp — the CUDA devices this process can use, and binding one to the rank.
//
// The probe never throws and prints nothing: without a driver or a GPU it
// returns a count of 0 and the runtime's reason, and --device auto then trains on
// the CPU. The decision itself (which GPU, or which error) is the pure logic of
// core/device_choice.hpp.
#pragma once

#include <string>

#include "mnist_ddp/core/device_choice.hpp"

namespace mnist_ddp::cuda {

// Usable CUDA devices of this process (cudaGetDeviceCount, honouring
// CUDA_VISIBLE_DEVICES), or 0 and why not. cuda_built is true.
DeviceProbe probe_devices();

// The device's UUID (as nvidia-smi -L shows it). Throws RuntimeError.
GpuUuid device_uuid(int device);

// Makes `device` the current device of this host thread. Throws RuntimeError.
void bind_device(int device);

// "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB, 132 SMs), driver 13.0, runtime 13.0"
std::string describe_device(int device);

}  // namespace mnist_ddp::cuda
