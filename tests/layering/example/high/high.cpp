// Every way the check must refuse, next to includes it must accept.
#include "high/high.h"
#include "low/internal.h"
#include "low/low.h"
#include "other/other.h"
#include "tests/layering/check.h"
