// oneDNN inner product with Keras (in x out) weights: format_tag::io given directly vs tag::any (+ the layout oneDNN picks)
#include <dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <algorithm>
using namespace dnnl; using tag=memory::format_tag; using dt=memory::data_type;
double now(){return std::chrono::duration<double,std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();}
double run(int N,int I,int O,bool any,engine&eng,stream&s){
  memory::desc x({N,I},dt::f32,tag::nc), y({N,O},dt::f32,tag::nc), wio({O,I},dt::f32,tag::io), b({O},dt::f32,tag::x), wany({O,I},dt::f32,tag::any);
  const memory::desc& w = any? wany: wio;
  primitive_attr a; post_ops po; po.append_eltwise(1.f,algorithm::eltwise_relu,0,0); a.set_post_ops(po);
  inner_product_forward::primitive_desc fpd({prop_kind::forward_training,x,w,b,y},a,eng);
  inner_product_backward_data::primitive_desc dpd({x,w,y},eng,fpd);
  inner_product_backward_weights::primitive_desc wpd({x,w,b,y},eng,fpd);
  std::vector<float> X(N*I,0.5f),W(I*O,0.01f),B(O),Y(N*O),DY(N*O,0.1f),DX(N*I),DW(I*O),DB(O);
  memory mx(x,eng,X.data()),mb(b,eng,B.data()),my(y,eng,Y.data()),mdy(y,eng,DY.data()),mdx(x,eng,DX.data());
  memory mw(fpd.weights_desc(),eng), mwd(dpd.weights_desc(),eng), mdw(wpd.diff_weights_desc(),eng), mdb(b,eng,DB.data());
  inner_product_forward f(fpd); inner_product_backward_data d(dpd); inner_product_backward_weights bw(wpd);
  double bd=1e9;
  for(int r=0;r<40;++r){
    double t0=now();
    f.execute(s,{{DNNL_ARG_SRC,mx},{DNNL_ARG_WEIGHTS,mw},{DNNL_ARG_BIAS,mb},{DNNL_ARG_DST,my}});
    bw.execute(s,{{DNNL_ARG_SRC,mx},{DNNL_ARG_DIFF_DST,mdy},{DNNL_ARG_DIFF_WEIGHTS,mdw},{DNNL_ARG_DIFF_BIAS,mdb}});
    d.execute(s,{{DNNL_ARG_DIFF_DST,mdy},{DNNL_ARG_WEIGHTS,mwd},{DNNL_ARG_DIFF_SRC,mdx}}); s.wait();
    double t1=now(); if(r>3) bd=std::min(bd,t1-t0);
  }
  printf("dense %d->%d batch %d weights %s: fwd %s (w %s) / bwd-d %s / bwd-w %s (dw %s): %.3f ms (min of 36, no reorders counted)\n",I,O,N,any?"any":"io",
    fpd.impl_info_str(), fpd.weights_desc()==wio?"io":"other", dpd.impl_info_str(), wpd.impl_info_str(), wpd.diff_weights_desc()==wio?"io":"other", bd);
  return bd;
}
int main(){ engine eng(engine::kind::cpu,0); stream s(eng);
  for(int rep=0;rep<2;++rep) for(bool any:{false,true}){ run(128,1152,256,any,eng,s); run(128,256,10,any,eng,s);} }
