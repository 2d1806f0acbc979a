/* A convolution with few input channels, ReLU and 2x2 max pooling in one pass, on the CPU.
 *
 * The tutorials' first block, Conv2D(64, 3, activation="relu") then MaxPooling2D() on a
 * grayscale or colour image, does little arithmetic per byte: oneDNN spends its time
 * writing the full-size feature map, reading it back to pool it, and in the backward pass
 * filling and scattering into a map of the same size before summing the weight gradient
 * over all of it. Here each pooled output is computed from its four window positions in
 * registers, and only the pooled map and one byte per output (the position of the window's
 * largest value, and whether ReLU passes its gradient) are written. The backward pass sums
 * the weight gradient over the pooled positions only, since the others receive none.
 *
 * Semantics are torch's: the window's first largest value wins, NaN wins over numbers;
 * ReLU passes the gradient where its output is not <= 0. Sums are float32 with fused
 * multiply-adds in tap order; the weight gradient is summed in float32 within an image
 * and in float64 across images, in image order, so results do not depend on the threads.
 *
 * Layouts: images (n, h, w, cin); kernel (kh, kw, cin, cout_padded) and bias (cout_padded),
 * cout_padded a multiple of 16 with zero padding; pooled output and its codes
 * (n, h_out, w_out, cout); weight gradient (kh, kw, cin, cout) and bias gradient (cout).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RELU_PASSES 0x80  /* code bit: the pooled output is not <= 0 */
#define MAX_PASS 64       /* output channels one pass computes, at most */
#define MAX_TAPS 64       /* kernel height x width x input channels, at most */

typedef struct {
    const float *x, *kernel, *bias;
    Py_ssize_t n, h, w, cin, kh, kw, cout, cout_padded, h_out, w_out;
} Block;

static Py_ssize_t min_size(Py_ssize_t a, Py_ssize_t b) { return a < b ? a : b; }

/* Offsets of each tap (kernel row, column, input channel) from a window's first pixel. */
static void tap_offsets(const Block *b, Py_ssize_t *offsets) {
    Py_ssize_t t = 0;
    for (Py_ssize_t r = 0; r < b->kh; r++)
        for (Py_ssize_t s = 0; s < b->kw; s++)
            for (Py_ssize_t ci = 0; ci < b->cin; ci++) offsets[t++] = (r * b->w + s) * b->cin + ci;
}

typedef void (*ForwardImage)(const Block *, Py_ssize_t, float *, uint8_t *);
typedef void (*GradientImage)(const Block *, Py_ssize_t, const float *, const uint8_t *, float *,
                              double *);

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,fma")
#define KERNEL(name) name##_avx512
#define LANES 16 /* one register */
#define BLOCKS 4 /* 16 sums in registers, of 32 */
#include "_conv_pool_kernels.h"
#undef KERNEL
#undef LANES
#undef BLOCKS
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define KERNEL(name) name##_avx2
#define LANES 8
#define BLOCKS 2 /* 8 sums in registers, of 16 */
#include "_conv_pool_kernels.h"
#undef KERNEL
#undef LANES
#undef BLOCKS
#pragma GCC pop_options
#endif
#define KERNEL(name) name##_baseline
#define LANES 4
#define BLOCKS 2
#include "_conv_pool_kernels.h"
#undef KERNEL
#undef LANES
#undef BLOCKS

typedef struct {
    const char *name;
    ForwardImage forward;
    GradientImage gradient;
} Kernels;

static const Kernels kernel_sets[] = {
#if defined(__x86_64__) && defined(__GNUC__)
    {"avx512", forward_image_avx512, gradient_image_avx512},
    {"avx2", forward_image_avx2, gradient_image_avx2},
#endif
    {"baseline", forward_image_baseline, gradient_image_baseline},
};
#define KERNEL_SETS ((int)(sizeof kernel_sets / sizeof kernel_sets[0]))

static int runs(const Kernels *set) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (!strcmp(set->name, "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    if (!strcmp(set->name, "avx2"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return 1;
}

static const Kernels *kernels = &kernel_sets[KERNEL_SETS - 1];

/* The widest instruction set this CPU runs. */
static void choose_kernels(void) {
    for (int i = KERNEL_SETS - 1; i >= 0; i--)
        if (runs(&kernel_sets[i])) kernels = &kernel_sets[i];
}

/* instruction_sets() -> the names this CPU runs, widest first. */
static PyObject *instruction_sets(PyObject *self, PyObject *unused) {
    PyObject *names = PyList_New(0);
    for (int i = 0; names && i < KERNEL_SETS; i++) {
        PyObject *name = runs(&kernel_sets[i]) ? PyUnicode_FromString(kernel_sets[i].name) : NULL;
        if (name && PyList_Append(names, name) < 0) Py_CLEAR(names);
        Py_XDECREF(name);
    }
    return names;
}

/* use(name) -> the name in use before: tests run every set the CPU has. */
static PyObject *use(PyObject *self, PyObject *args) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    for (int i = 0; i < KERNEL_SETS; i++)
        if (!strcmp(kernel_sets[i].name, name) && runs(&kernel_sets[i])) {
            const char *before = kernels->name;
            kernels = &kernel_sets[i];
            return PyUnicode_FromString(before);
        }
    return PyErr_Format(PyExc_ValueError, "instruction set '%s' is not one this CPU runs", name);
}

static int parse_block(PyObject *args, Block *b, Py_ssize_t *first, Py_ssize_t *second,
                       Py_ssize_t *third, int *threads) {
    Py_ssize_t x, kernel, bias;
    if (!PyArg_ParseTuple(args, "nnnnnnnnnnnnnni", &x, &b->n, &b->h, &b->w, &b->cin, &kernel,
                          &bias, &b->kh, &b->kw, &b->cout, &b->cout_padded, first, second,
                          third, threads))
        return 0;
    b->x = (const float *)x;
    b->kernel = (const float *)kernel;
    b->bias = (const float *)bias;
    b->h_out = (b->h - b->kh + 1) / 2;
    b->w_out = (b->w - b->kw + 1) / 2;
    return 1;
}

/* forward(x, n, h, w, cin, kernel, bias, kh, kw, cout, cout_padded, out, code, 0, threads):
 * code may be 0 (no backward pass to come). */
static PyObject *forward(PyObject *self, PyObject *args) {
    Block b;
    Py_ssize_t out, code, unused;
    int threads;
    if (!parse_block(args, &b, &out, &code, &unused, &threads)) return NULL;
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for schedule(static) num_threads(threads)
    for (Py_ssize_t n = 0; n < b.n; n++) kernels->forward(&b, n, (float *)out, (uint8_t *)code);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* backward(x, n, h, w, cin, kernel, bias, kh, kw, cout, cout_padded, grad, code, dwb, threads):
 * dwb receives the weight gradient (taps * cout floats) followed by the bias gradient. */
static PyObject *backward(PyObject *self, PyObject *args) {
    Block b;
    Py_ssize_t grad, code, dwb;
    int threads;
    if (!parse_block(args, &b, &grad, &code, &dwb, &threads)) return NULL;
    const Py_ssize_t taps = b.kh * b.kw * b.cin, per_image = (taps + 1) * b.cout;
    double *sums = malloc(sizeof(double) * per_image * (b.n > 0 ? b.n : 1));
    if (!sums) return PyErr_NoMemory();
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel num_threads(threads)
    {
        float *dw = aligned_alloc(64, sizeof(float) * (taps + 1) * MAX_PASS);
        if (!dw) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (Py_ssize_t n = 0; n < b.n; n++)
            if (dw)
                kernels->gradient(&b, n, (const float *)grad, (const uint8_t *)code, dw,
                                  sums + n * per_image);
        free(dw);
        /* Across images in image order: the same sums whatever the number of threads. */
#pragma omp for schedule(static)
        for (Py_ssize_t e = 0; e < per_image; e++) {
            double total = 0.0;
            for (Py_ssize_t n = 0; n < b.n; n++) total += sums[n * per_image + e];
            ((float *)dwb)[e] = (float)total;
        }
    }
    Py_END_ALLOW_THREADS
    free(sums);
    if (failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"forward", forward, METH_VARARGS, "Convolution, ReLU and 2x2 max pooling of a batch."},
    {"backward", backward, METH_VARARGS, "Weight and bias gradients of forward."},
    {"instruction_sets", instruction_sets, METH_NOARGS, "Kernel sets this CPU runs."},
    {"use", use, METH_VARARGS, "Runs the named kernel set; returns the one used before."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_conv_pool", NULL, -1, methods};

PyMODINIT_FUNC PyInit__conv_pool(void) {
    choose_kernels();
    return PyModule_Create(&module);
}
