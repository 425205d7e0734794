// A suite file that reaches up into the judge.
#pragma once
#include "src/judge/gates.hpp"
