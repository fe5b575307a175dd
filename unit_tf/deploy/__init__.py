"""Translators for runtimes other than TF Serving, for one fixed input size.

  fixed.py    the fixed-size uint8 translator function and the SavedModel it is converted from
  litert.py   .tflite files (LiteRT / TensorFlow Lite: phones, Raspberry Pi) and a checked runner
  onnx.py     .onnx files (ONNX Runtime) through tf2onnx
"""
