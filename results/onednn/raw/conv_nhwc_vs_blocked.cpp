#include <dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <vector>
#include <string>
using namespace dnnl; using tag = memory::format_tag; using dt = memory::data_type;
static engine eng(engine::kind::cpu, 0); static stream s(eng);
double tm(primitive& p, std::unordered_map<int, memory> a, int reps=10){
  p.execute(s,a); s.wait();
  auto t0=std::chrono::steady_clock::now(); for(int i=0;i<reps;++i) p.execute(s,a); s.wait();
  return std::chrono::duration<double,std::milli>(std::chrono::steady_clock::now()-t0).count()/reps; }
int main(int argc,char**argv){
  int N=128,H=atoi(argv[1]),C=atoi(argv[2]),K=atoi(argv[3]); bool blocked = argv[4][0]=='b';
  memory::dims xs{N,C,H,H}, ys{N,K,H,H}, ws{K,C,3,3}, bs{K}, st{1,1}, pd{1,1};
  auto act = blocked ? tag::any : tag::nhwc;
  memory::desc x(xs,dt::f32,act), y(ys,dt::f32,act), w(ws,dt::f32,tag::any), b(bs,dt::f32,tag::x);
  convolution_forward::primitive_desc fpd({prop_kind::forward_training, algorithm::convolution_direct, x,w,b,y,st,pd,pd}, eng);
  auto mx=memory(fpd.src_desc(),eng), my=memory(fpd.dst_desc(),eng), mw=memory(fpd.weights_desc(),eng), mb=memory(fpd.bias_desc(),eng);
  convolution_forward f(fpd);
  double tf=tm(f,{{DNNL_ARG_SRC,mx},{DNNL_ARG_WEIGHTS,mw},{DNNL_ARG_BIAS,mb},{DNNL_ARG_DST,my}});
  convolution_backward_data::primitive_desc dpd({algorithm::convolution_direct, fpd.src_desc(), w, fpd.dst_desc(), st,pd,pd}, eng, fpd);
  auto mwd=memory(dpd.weights_desc(),eng), mdx=memory(dpd.diff_src_desc(),eng), mdy=memory(dpd.diff_dst_desc(),eng);
  convolution_backward_data d(dpd);
  double td=tm(d,{{DNNL_ARG_DIFF_DST,mdy},{DNNL_ARG_WEIGHTS,mwd},{DNNL_ARG_DIFF_SRC,mdx}});
  convolution_backward_weights::primitive_desc wpd({algorithm::convolution_direct, fpd.src_desc(), w, b, fpd.dst_desc(), st,pd,pd}, eng, fpd);
  auto mdw=memory(wpd.diff_weights_desc(),eng), mdb=memory(wpd.diff_bias_desc(),eng), mx2=memory(wpd.src_desc(),eng), mdy2=memory(wpd.diff_dst_desc(),eng);
  convolution_backward_weights bw(wpd);
  double tw=tm(bw,{{DNNL_ARG_SRC,mx2},{DNNL_ARG_DIFF_DST,mdy2},{DNNL_ARG_DIFF_WEIGHTS,mdw},{DNNL_ARG_DIFF_BIAS,mdb}});
  double fl=2.0*N*H*H*K*C*9/1e9;
  printf("%s H%d C%d K%d: fwd %.2f ms (%.0f GF/s) %s | bwd-d %.2f (%.0f) %s | bwd-w %.2f (%.0f) %s\n", blocked?"blocked":"nhwc   ",H,C,K,
    tf,fl/tf*1e3,fpd.impl_info_str(),td,fl/td*1e3,dpd.impl_info_str(),tw,fl/tw*1e3,wpd.impl_info_str());
}
