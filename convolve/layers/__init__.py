"""Keras layers running on torch."""

from convolve.layers.activation_layers import PReLU
from convolve.layers.adaptive_pooling import (
    AdaptiveAveragePooling1D,
    AdaptiveAveragePooling2D,
    AdaptiveAveragePooling3D,
    AdaptiveMaxPooling1D,
    AdaptiveMaxPooling2D,
    AdaptiveMaxPooling3D,
)
from convolve.layers.attention import (
    AdditiveAttention,
    Attention,
    GroupQueryAttention,
    MultiHeadAttention,
)
from convolve.layers.augmentation import (
    AugMix,
    AutoContrast,
    ContrastLimitedAdaptiveHistogramEqualization,
    CutMix,
    Equalization,
    MaxNumBoundingBoxes,
    MixUp,
    Pipeline,
    RandAugment,
    RandomBrightness,
    RandomColorDegeneration,
    RandomColorJitter,
    RandomContrast,
    RandomCrop,
    RandomElasticTransform,
    RandomErasing,
    RandomFlip,
    RandomGaussianBlur,
    RandomGrayscale,
    RandomHue,
    RandomInvert,
    RandomPerspective,
    RandomPosterization,
    RandomResizedCrop,
    RandomRotation,
    RandomSaturation,
    RandomSharpness,
    RandomShear,
    RandomTranslation,
    RandomZoom,
    Solarization,
)
from convolve.layers.base import Layer
from convolve.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from convolve.layers.convolution import (
    Conv1D,
    Conv2D,
    Conv3D,
    Convolution1D,
    Convolution2D,
    Convolution3D,
)
from convolve.layers.convolution_variants import (
    Conv1DTranspose,
    Conv2DTranspose,
    Conv3DTranspose,
    Convolution1DTranspose,
    Convolution2DTranspose,
    Convolution3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
    SeparableConvolution1D,
    SeparableConvolution2D,
)
from convolve.layers.core import (
    ELU,
    Activation,
    Dense,
    Dropout,
    Flatten,
    Identity,
    Input,
    InputLayer,
    LeakyReLU,
    Permute,
    ReLU,
    Reshape,
    Softmax,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from convolve.layers.dot import Dot, dot
from convolve.layers.einsum_dense import EinsumDense
from convolve.layers.embedding import Embedding
from convolve.layers.encoding import CategoryEncoding, Discretization
from convolve.layers.hashed_crossing import HashedCrossing
from convolve.layers.hashing import Hashing
from convolve.layers.input_spec import InputSpec
from convolve.layers.layer_serialization import deserialize, serialize
from convolve.layers.lookup import IntegerLookup, StringLookup
from convolve.layers.masking import Masking
from convolve.layers.merging import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from convolve.layers.normalization import (
    BatchNormalization,
    GroupNormalization,
    LayerNormalization,
)
from convolve.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    AvgPool1D,
    AvgPool2D,
    AvgPool3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalAvgPool3D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPool3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPool1D,
    MaxPool2D,
    MaxPool3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from convolve.layers.preprocessing import CenterCrop, Normalization, Rescaling, Resizing
from convolve.layers.recurrent import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    SimpleRNN,
    TimeDistributed,
)
from convolve.layers.regularization import (
    ActivityRegularization,
    AlphaDropout,
    GaussianDropout,
    GaussianNoise,
)
from convolve.layers.repeat_vector import RepeatVector
from convolve.layers.reshaping import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)
from convolve.layers.rms_normalization import RMSNormalization
from convolve.layers.rnn_cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from convolve.layers.spectral_normalization import SpectralNormalization
from convolve.layers.symbolic import KerasTensor
from convolve.layers.text_vectorization import TextVectorization
from convolve.layers.unit_normalization import UnitNormalization
from convolve.layers.wrappers import Lambda, TorchModuleWrapper, Wrapper
