// main.cpp — parse the command line, run the job, map errors to exit codes.
#include "mnist_ddp/app/run.hpp"

int main(int argc, char** argv) { return mnist_ddp::run_main(argc, argv); }
