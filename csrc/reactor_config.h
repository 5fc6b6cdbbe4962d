/* Build-time switches shared by the Cython modules. setup.py defines
 * REACTOR_DEBUG=1 for the debug flavour (thread-ownership asserts on). */
#ifndef REACTOR_CONFIG_H
#define REACTOR_CONFIG_H
#ifndef REACTOR_DEBUG
#define REACTOR_DEBUG 0
#endif
#endif
