"""Pretrained image networks with Keras's architectures, layer names and weights.

Each builder takes Keras's arguments (`include_top`, `weights`, `input_tensor`,
`input_shape`, `pooling`, `classes`, `classifier_activation`, `name`) and returns a
functional `Model`. `weights="imagenet"` downloads Keras's published weight files into
`$CONVOLVE_HOME/models` (see `convolve.applications.weights`). Each family's module holds its
`preprocess_input` and `decode_predictions`: `convolve.applications.vgg16.preprocess_input`.

Example:
    >>> from convolve import applications
    >>> base = applications.MobileNetV2(weights=None, include_top=False, input_shape=(96, 96, 3))
    >>> base.output_shape
    (None, 3, 3, 1280)
"""

from convolve.applications import (
    convnext,
    densenet,
    efficientnet,
    efficientnet_v2,
    imagenet_utils,
    inception_resnet_v2,
    inception_v3,
    mobilenet,
    mobilenet_v2,
    mobilenet_v3,
    nasnet,
    resnet,
    resnet50,
    resnet_v2,
    vgg16,
    vgg19,
    weights,
    xception,
)
from convolve.applications.convnext import (
    ConvNeXtBase,
    ConvNeXtLarge,
    ConvNeXtSmall,
    ConvNeXtTiny,
    ConvNeXtXLarge,
)
from convolve.applications.densenet import DenseNet121, DenseNet169, DenseNet201
from convolve.applications.efficientnet import (
    EfficientNetB0,
    EfficientNetB1,
    EfficientNetB2,
    EfficientNetB3,
    EfficientNetB4,
    EfficientNetB5,
    EfficientNetB6,
    EfficientNetB7,
)
from convolve.applications.efficientnet_v2 import (
    EfficientNetV2B0,
    EfficientNetV2B1,
    EfficientNetV2B2,
    EfficientNetV2B3,
    EfficientNetV2L,
    EfficientNetV2M,
    EfficientNetV2S,
)
from convolve.applications.inception_resnet_v2 import InceptionResNetV2
from convolve.applications.inception_v3 import InceptionV3
from convolve.applications.mobilenet import MobileNet
from convolve.applications.mobilenet_v2 import MobileNetV2
from convolve.applications.mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from convolve.applications.nasnet import NASNetLarge, NASNetMobile
from convolve.applications.resnet import ResNet50, ResNet101, ResNet152
from convolve.applications.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from convolve.applications.vgg import VGG16, VGG19
from convolve.applications.xception import Xception

__all__ = [
    "VGG16",
    "VGG19",
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtSmall",
    "ConvNeXtTiny",
    "ConvNeXtXLarge",
    "DenseNet121",
    "DenseNet169",
    "DenseNet201",
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "EfficientNetV2B0",
    "EfficientNetV2B1",
    "EfficientNetV2B2",
    "EfficientNetV2B3",
    "EfficientNetV2L",
    "EfficientNetV2M",
    "EfficientNetV2S",
    "InceptionResNetV2",
    "InceptionV3",
    "MobileNet",
    "MobileNetV2",
    "MobileNetV3Large",
    "MobileNetV3Small",
    "NASNetLarge",
    "NASNetMobile",
    "ResNet50",
    "ResNet101",
    "ResNet152",
    "ResNet50V2",
    "ResNet101V2",
    "ResNet152V2",
    "Xception",
    "convnext",
    "densenet",
    "efficientnet",
    "efficientnet_v2",
    "imagenet_utils",
    "inception_resnet_v2",
    "inception_v3",
    "mobilenet",
    "mobilenet_v2",
    "mobilenet_v3",
    "nasnet",
    "resnet",
    "resnet50",
    "resnet_v2",
    "vgg16",
    "vgg19",
    "weights",
    "xception",
]
